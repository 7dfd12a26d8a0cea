// A well-behaved GPU task, for test/gpu/realGpuCheck.mjs: allocates `mib` MiB with plain
// cudaMalloc, touches it with cudaMemset, holds it for `holdMs`, frees it and exits 0.
// Exits 3 when it finds no CUDA device (as on a `cpu` worker, CUDA_VISIBLE_DEVICES='').
//
//   gpu-fixed <MiB> <hold ms>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>

static long long nowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: gpu-fixed <MiB> <hold ms>\n");
    return 64;
  }
  const long long mib = atoll(argv[1]);
  const long long holdMs = atoll(argv[2]);
  const char* visible = getenv("CUDA_VISIBLE_DEVICES");
  printf("gpu-fixed pid=%d t=%lld CUDA_VISIBLE_DEVICES=%s\n", static_cast<int>(getpid()), nowMs(), visible ? visible : "(unset)");
  fflush(stdout);

  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    printf("gpu-fixed no-device t=%lld error=%s (%s, code %d) count=%d\n", nowMs(), cudaGetErrorName(status), cudaGetErrorString(status), static_cast<int>(status), count);
    fflush(stdout);
    return 3;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  printf("gpu-fixed device t=%lld name=\"%s\" count=%d\n", nowMs(), prop.name, count);
  fflush(stdout);

  void* block = nullptr;
  status = cudaMalloc(&block, static_cast<size_t>(mib) << 20);
  if (status != cudaSuccess) {
    printf("gpu-fixed malloc-failed t=%lld error=%s\n", nowMs(), cudaGetErrorString(status));
    fflush(stdout);
    return 4;
  }
  cudaMemset(block, 1, static_cast<size_t>(mib) << 20);
  status = cudaDeviceSynchronize();
  printf("gpu-fixed holding t=%lld allocated_mib=%lld sync=%s\n", nowMs(), mib, cudaGetErrorName(status));
  fflush(stdout);

  timespec hold = {static_cast<time_t>(holdMs / 1000), static_cast<long>((holdMs % 1000) * 1000000)};
  nanosleep(&hold, nullptr);
  cudaFree(block);
  printf("gpu-fixed freed t=%lld\n", nowMs());
  fflush(stdout);
  return 0;
}

// A runaway on the GPU, for test/gpu/realGpuCheck.mjs: allocates device memory with plain
// cudaMalloc at `rate` MiB/s in `chunk` MiB steps, up to `max` MiB (a safety cap far below
// the card), then holds it until it is killed. Each step is one line on stdout, flushed,
// with the wall-clock time, so the check can line the program's own count up with the
// pool's samples after the kill.
//
//   gpu-grow <rate MiB/s> <chunk MiB> <max MiB>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>
#include <vector>

static long long nowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleepMs(long long ms) {
  if (ms <= 0) return;
  timespec ts = {static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  nanosleep(&ts, nullptr);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: gpu-grow <rate MiB/s> <chunk MiB> <max MiB>\n");
    return 64;
  }
  const double rate = atof(argv[1]);
  const long long chunk = atoll(argv[2]);
  const long long max = atoll(argv[3]);
  if (rate <= 0 || chunk <= 0 || max < chunk) {
    fprintf(stderr, "gpu-grow: expected rate > 0, chunk > 0, max >= chunk, got %s %s %s\n", argv[1], argv[2], argv[3]);
    return 64;
  }
  const char* visible = getenv("CUDA_VISIBLE_DEVICES");
  printf("gpu-grow pid=%d t=%lld CUDA_VISIBLE_DEVICES=%s\n", static_cast<int>(getpid()), nowMs(), visible ? visible : "(unset)");
  fflush(stdout);

  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    printf("gpu-grow no-device t=%lld error=%s (%s, code %d) count=%d\n", nowMs(), cudaGetErrorName(status), cudaGetErrorString(status), static_cast<int>(status), count);
    fflush(stdout);
    return 3;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  // cudaFree(0) creates the context, so its overhead shows before the first chunk.
  cudaFree(nullptr);
  printf("gpu-grow device t=%lld name=\"%s\" count=%d\n", nowMs(), prop.name, count);
  fflush(stdout);

  const long long stepMs = static_cast<long long>(1000.0 * chunk / rate);
  std::vector<void*> held;
  long long allocated = 0;
  const long long started = nowMs();
  while (allocated + chunk <= max) {
    void* block = nullptr;
    status = cudaMalloc(&block, static_cast<size_t>(chunk) << 20);
    if (status != cudaSuccess) {
      printf("gpu-grow malloc-failed t=%lld allocated_mib=%lld error=%s\n", nowMs(), allocated, cudaGetErrorString(status));
      fflush(stdout);
      break;
    }
    cudaMemset(block, 1, static_cast<size_t>(chunk) << 20);
    cudaDeviceSynchronize();
    held.push_back(block);
    allocated += chunk;
    printf("gpu-grow step t=%lld allocated_mib=%lld\n", nowMs(), allocated);
    fflush(stdout);
    sleepMs(started + static_cast<long long>(held.size()) * stepMs - nowMs());
  }
  printf("gpu-grow holding t=%lld allocated_mib=%lld\n", nowMs(), allocated);
  fflush(stdout);
  for (;;) pause();
}

// The benchmark's tasks, as named exports: poolvisor, piscina and tinypool load this file.
const kept = [];

export function noop() {}

export function echo(payload) {
  return payload;
}

export function spin() {
  for (;;) {
    // only a kill stops it
  }
}

/** Off-heap growth at `mibPerTick` every 10 ms (2 → 200 MiB/s), never released. */
export function growOffHeap({ mibPerTick = 2 } = {}) {
  return new Promise(() => setInterval(() => kept.push(Buffer.alloc(mibPerTick * 1048576, 1)), 10));
}

/** JS-heap growth at `mibPerTick` every 10 ms. */
export function growHeap({ mibPerTick = 2 } = {}) {
  return new Promise(() =>
    setInterval(() => {
      const numbers = new Array((mibPerTick * 1048576) / 8);
      for (let i = 0; i < numbers.length; i += 1) numbers[i] = i + 0.5;
      kept.push(numbers);
    }, 10),
  );
}

export function exit1() {
  process.exit(1);
}

export function uncaught() {
  setTimeout(() => {
    throw new Error('uncaught');
  });
  return new Promise(() => {});
}

export function sigkill() {
  process.kill(process.pid, 'SIGKILL');
}

/** Keeps its worker busy for `ms`: the redelivery measurement kills the host meanwhile. */
export function hold({ ms } = {}) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// workerpool's worker: the same tasks as tasks.mjs, registered the way workerpool wants them.
const workerpool = require('workerpool');

const kept = [];
workerpool.worker({
  noop() {},
  echo: (payload) => payload,
  spin() {
    for (;;) {
      // only a kill stops it
    }
  },
  growOffHeap: ({ mibPerTick = 2 } = {}) => new Promise(() => setInterval(() => kept.push(Buffer.alloc(mibPerTick * 1048576, 1)), 10)),
  growHeap: ({ mibPerTick = 2 } = {}) =>
    new Promise(() =>
      setInterval(() => {
        const numbers = new Array((mibPerTick * 1048576) / 8);
        for (let i = 0; i < numbers.length; i += 1) numbers[i] = i + 0.5;
        kept.push(numbers);
      }, 10),
    ),
  exit1: () => process.exit(1),
  uncaught() {
    setTimeout(() => {
      throw new Error('uncaught');
    });
    return new Promise(() => {});
  },
  sigkill: () => process.kill(process.pid, 'SIGKILL'),
});

// BullMQ's sandboxed processor for npm run bench:cluster: the same tasks as ./tasks.mjs, by job name.
// `hold` keeps a job active (the redelivery measurement kills its host meanwhile).
export default async function process(job) {
  switch (job.name) {
    case 'noop':
      return null;
    case 'echo':
      return job.data;
    case 'hold':
      await new Promise((resolve) => setTimeout(resolve, job.data.ms));
      return null;
    default:
      throw new Error(`unknown task ${job.name}`);
  }
}

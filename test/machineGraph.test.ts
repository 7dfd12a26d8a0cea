import { describe, expect, it } from 'vitest';
import { supervisorMachine, workerMachine } from '../machines/index.js';
import { describeMachine, handlersToMarkdown } from '../src/machineGraph.js';

// The graph the docs' diagrams and the dashboard's statecharts are drawn from.

describe('describeMachine', () => {
  it("lists the supervisor's decisions: each event's named action at the root, and the states that answer otherwise", () => {
    const graph = describeMachine(supervisorMachine);
    const at = (state: string, event: string) => graph.handlers.filter((h) => h.state === state && h.event === event).map((h) => h.actions);
    expect(at('', 'task.submit')).toEqual([['routeTask']]);
    // What depends on the state, each state says, with the state as the step's parameter.
    expect(at('', 'worker.tasks-done')).toEqual([]);
    expect(at('running', 'worker.tasks-done')).toEqual([['settleTasks(running)']]);
    expect(at('degraded', 'worker.exited')).toEqual([['restartExited(degraded)']]);
    expect(at('stopping', 'worker.killed')).toEqual([['settleKilled(stopping)']]);
    expect(at('draining', 'error: any child')).toEqual([['replaceFailedWorker(draining)']]);
    expect(at('draining', 'task.submit')).toEqual([['refuseTaskClosed']]);
    expect(at('stopping', 'lease.acquire')).toEqual([['refuseLeaseClosed']]);
    expect(at('degraded', 'task.submit')).toEqual([['refuseTaskDegraded']]);
    // No wildcard hides a decision.
    expect(graph.handlers.some((h) => h.event === '*')).toBe(false);
    // Edges stay edges: the close path and the way into degraded.
    expect(graph.transitions).toContainEqual({ source: 'running', target: 'draining', event: 'pool.close', guard: undefined });
    expect(graph.transitions).toContainEqual({ source: 'running', target: 'degraded', event: 'always', guard: 'isDegraded' });
  });

  it('writes the handlers as a table, the root as every state, an empty handler as ignored', () => {
    const table = handlersToMarkdown(describeMachine(supervisorMachine)).split('\n');
    expect(table.slice(0, 2)).toEqual(['| state | event | action |', '|---|---|---|']);
    expect(table).toContain('| *(every state)* | `task.submit` | `routeTask` |');
    expect(table).toContain('| `stopping` | `pool.close` | *(ignored)* |');
    expect(handlersToMarkdown(describeMachine(workerMachine))).toContain('| `alive.running` | `after deadlineWarning` | `warnOfDeadline` |');
  });
});

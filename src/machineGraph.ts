import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface MachineGraphState {
  /** Dotted path from the root, e.g. `alive.running.busy`. */
  readonly path: string;
  readonly key: string;
  /** Path of the parent state; '' for top-level states. */
  readonly parent: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child, for compound states. */
  readonly initial: string | undefined;
}

export interface MachineGraphTransition {
  readonly source: string;
  readonly target: string;
  /** A readable event: `task.run`, `after taskDeadline`, `done: startWorker`, `always`. */
  readonly event: string;
  readonly guard: string | undefined;
}

/** A machine as plain data, for drawing it: states by path, transitions with readable events. */
export interface MachineGraph {
  readonly id: string;
  readonly initial: string | undefined;
  readonly states: readonly MachineGraphState[];
  readonly transitions: readonly MachineGraphTransition[];
}

const pathOf = (node: AnyStateNode) => node.path.join('.');

/**
 * Describes a machine from its definition: the docs' Mermaid diagrams and the
 * dashboard's statecharts are both drawn from this, never by hand. Transitions
 * without a target (bookkeeping that stays in the same state) are left out.
 */
export function describeMachine(machine: AnyStateMachine): MachineGraph {
  const invokeNames = new Map<string, string>();
  const states: MachineGraphState[] = [];
  const transitions: MachineGraphTransition[] = [];
  const visit = (node: AnyStateNode) => {
    for (const invoke of node.invoke) invokeNames.set(invoke.id, typeof invoke.src === 'string' ? invoke.src : invoke.id);
    for (const child of Object.values(node.states) as AnyStateNode[]) visit(child);
  };
  visit(machine.root);

  const event = (t: AnyTransitionDefinition): string => {
    const after = /^xstate\.after\.([^.]+)\./.exec(t.eventType);
    const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(t.eventType);
    if (after) return `after ${after[1]}`;
    if (t.eventType === '') return 'always';
    if (actor) return `${actor[1]}: ${actor[2] === '*' ? 'any child' : (invokeNames.get(actor[2] as string) ?? actor[2])}`;
    return t.eventType;
  };
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      const initial = child.initial?.target[0] as AnyStateNode | undefined;
      states.push({ path: pathOf(child), key: child.key, parent: pathOf(node), type: child.type, initial: initial?.key });
      for (const t of [...child.transitions.values()].flat().concat(child.always ?? [])) {
        const guard = typeof t.guard === 'string' ? t.guard : (t.guard as { type?: string } | undefined)?.type;
        for (const target of (t.target ?? []) as AnyStateNode[]) {
          transitions.push({ source: pathOf(child), target: pathOf(target), event: event(t), guard });
        }
      }
      walk(child);
    }
  };
  walk(machine.root);
  const rootInitial = machine.root.initial?.target[0] as AnyStateNode | undefined;
  return { id: machine.id, initial: rootInitial ? pathOf(rootInitial) : undefined, states, transitions };
}

/** Draws a described machine as a Mermaid `stateDiagram-v2`. */
export function graphToMermaid(graph: MachineGraph): string {
  const id = (path: string) => `${graph.id}_${path.replace(/[^A-Za-z0-9]/g, '_')}`;
  const lines = ['stateDiagram-v2'];
  const draw = (parent: string, indent: string) => {
    const children = graph.states.filter((s) => s.parent === parent);
    for (const child of children) {
      lines.push(`${indent}state "${child.key}" as ${id(child.path)}`);
      if (graph.states.some((s) => s.parent === child.path)) {
        lines.push(`${indent}state ${id(child.path)} {`);
        draw(child.path, `${indent}  `);
        lines.push(`${indent}}`);
      }
      if (child.type === 'final') lines.push(`${indent}${id(child.path)} --> [*]`);
    }
    const initial = parent === '' ? graph.initial : graph.states.find((s) => s.path === parent)?.initial;
    if (initial !== undefined) lines.push(`${indent}[*] --> ${id(parent === '' ? initial : `${parent}.${initial}`)}`);
    for (const child of children) {
      for (const t of graph.transitions.filter((tr) => tr.source === child.path)) {
        lines.push(`${indent}${id(t.source)} --> ${id(t.target)} : ${t.event}${t.guard ? ` [${t.guard}]` : ''}`);
      }
    }
  };
  draw('', '  ');
  return lines.join('\n');
}

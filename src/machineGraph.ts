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

/** What a state does with an event without leaving it: its named actions (a decision of the machine). */
export interface MachineGraphHandler {
  /** The state's path; '' for the machine's root (every state, unless one says otherwise). */
  readonly state: string;
  readonly event: string;
  readonly guard: string | undefined;
  /** Each named action, with its parameters' values where it has any: `settleTasks(running)`. */
  readonly actions: readonly string[];
}

/** A machine as plain data, for drawing it: states by path, transitions with readable events. */
export interface MachineGraph {
  readonly id: string;
  readonly initial: string | undefined;
  readonly states: readonly MachineGraphState[];
  readonly transitions: readonly MachineGraphTransition[];
  readonly handlers: readonly MachineGraphHandler[];
}

const pathOf = (node: AnyStateNode) => node.path.join('.');

/**
 * Describes a machine from its definition: the docs' Mermaid diagrams and the
 * dashboard's statecharts are both drawn from this, never by hand. Transitions
 * without a target (decisions that stay in the same state) are `handlers`, not edges.
 */
export function describeMachine(machine: AnyStateMachine): MachineGraph {
  const invokeNames = new Map<string, string>();
  const states: MachineGraphState[] = [];
  const transitions: MachineGraphTransition[] = [];
  const handlers: MachineGraphHandler[] = [];
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
  // A parameterised action shows its parameters' values: `settleTasks(stopping)` is a decision of that state.
  const nameOf = (action: unknown): string | undefined => {
    if (typeof action === 'string') return action;
    const { type, params } = (action ?? {}) as { type?: unknown; params?: unknown };
    if (typeof type !== 'string') return undefined;
    const values = params !== null && typeof params === 'object' ? Object.values(params).filter((v) => typeof v === 'string' || typeof v === 'number') : [];
    return values.length > 0 ? `${type}(${values.join(', ')})` : type;
  };
  const edges = (node: AnyStateNode) => {
    for (const t of [...node.transitions.values()].flat().concat(node.always ?? [])) {
      const guard = typeof t.guard === 'string' ? t.guard : (t.guard as { type?: string } | undefined)?.type;
      const targets = (t.target ?? []) as AnyStateNode[];
      for (const target of targets) transitions.push({ source: pathOf(node), target: pathOf(target), event: event(t), guard });
      if (targets.length === 0) {
        const actions = (t.actions as unknown[]).map(nameOf).filter((name): name is string => name !== undefined);
        handlers.push({ state: pathOf(node), event: event(t), guard, actions });
      }
    }
  };
  const walk = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      const initial = child.initial?.target[0] as AnyStateNode | undefined;
      states.push({ path: pathOf(child), key: child.key, parent: pathOf(node), type: child.type, initial: initial?.key });
      edges(child);
      walk(child);
    }
  };
  edges(machine.root);
  walk(machine.root);
  const rootInitial = machine.root.initial?.target[0] as AnyStateNode | undefined;
  return { id: machine.id, initial: rootInitial ? pathOf(rootInitial) : undefined, states, transitions, handlers };
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

/**
 * The handlers of a described machine as a Markdown table: what each state does with an
 * event without leaving it (the root's apply in every state that does not say otherwise).
 */
export function handlersToMarkdown(graph: MachineGraph): string {
  if (graph.handlers.length === 0) return '';
  const rows = graph.handlers.map((h) => `| ${h.state === '' ? '*(every state)*' : `\`${h.state}\``} | \`${h.event}\`${h.guard ? ` [${h.guard}]` : ''} | ${h.actions.length > 0 ? h.actions.map((a) => `\`${a}\``).join(', ') : '*(ignored)*'} |`);
  return ['| state | event | action |', '|---|---|---|', ...rows].join('\n');
}

import { supervisorMachine, workerMachine } from '../machines/index.js';
import { describeMachine, graphToMermaid, handlersToMarkdown } from '../src/machineGraph.js';

const MACHINES = { worker: workerMachine, supervisor: supervisorMachine } as const;

/**
 * Replaces each `<!-- diagram:NAME -->` … `<!-- /diagram:NAME -->` block of a
 * Markdown text with the Mermaid drawing of that machine, and the table of what its
 * states do with an event without leaving them.
 */
export function withMachineDiagrams(markdown: string): string {
  return markdown.replace(
    /<!-- diagram:(\w+) -->[\s\S]*?<!-- \/diagram:\1 -->/g,
    (block, name: string) => {
      const machine = MACHINES[name as keyof typeof MACHINES];
      if (!machine) return block;
      const graph = describeMachine(machine);
      const handlers = handlersToMarkdown(graph);
      // What a state does without leaving it is a decision too: listed under the drawing, not drawn as loops.
      const table = handlers === '' ? '' : `\n\nWhat each state does with an event without leaving it:\n\n${handlers}`;
      return `<!-- diagram:${name} -->\n\`\`\`mermaid\n${graphToMermaid(graph)}\n\`\`\`${table}\n<!-- /diagram:${name} -->`;
    },
  );
}

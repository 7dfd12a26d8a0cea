import { supervisorMachine, workerMachine } from '../machines/index.js';
import { describeMachine, graphToMermaid } from '../src/machineGraph.js';

const MACHINES = { worker: workerMachine, supervisor: supervisorMachine } as const;

/**
 * Replaces each `<!-- diagram:NAME -->` … `<!-- /diagram:NAME -->` block of a
 * Markdown text with the Mermaid drawing of that machine.
 */
export function withMachineDiagrams(markdown: string): string {
  return markdown.replace(
    /<!-- diagram:(\w+) -->[\s\S]*?<!-- \/diagram:\1 -->/g,
    (block, name: string) => {
      const machine = MACHINES[name as keyof typeof MACHINES];
      if (!machine) return block;
      return `<!-- diagram:${name} -->\n\`\`\`mermaid\n${graphToMermaid(describeMachine(machine))}\n\`\`\`\n<!-- /diagram:${name} -->`;
    },
  );
}

/**
 * Whether `value` (parsed JSON) nests deeper than `maxDepth` arrays and objects: the
 * depth reached (maxDepth + 1) if so, undefined if not. Walked with an explicit stack,
 * stopping at the limit: the check itself cannot overflow, and costs at most one visit
 * of each value.
 */
export function payloadTooDeep(value: unknown, maxDepth: number): number | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    if (depth + 1 > maxDepth) return depth + 1;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return undefined;
}

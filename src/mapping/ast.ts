/** Typed syntax tree of an expression. `pos` is the 0-based offset of the node's first character. */
import type { CompOp } from './lexer.js';

export type Node =
  | { type: 'string'; value: string; pos: number }
  | { type: 'number'; text: string; pos: number }
  | { type: 'hex'; text: string; value: number; pos: number }
  | { type: 'attribute'; name: string; pos: number }
  | { type: 'identifier'; name: string; pos: number }
  | { type: 'compare'; op: CompOp; left: Node; right: Node; pos: number }
  | { type: 'call'; name: string; args: Arg[]; pos: number };

/** An argument position; `null` marks an omitted argument (`Switch([x], , "a", "b")`), which is not `""`. */
export type Arg = Node | null;

/** Canonical text of a tree (used for the fingerprint: whitespace and function-name case do not count). */
export function printNode(n: Node): string {
  switch (n.type) {
    case 'string':
      return `"${n.value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    case 'number':
    case 'hex':
      return n.text;
    case 'attribute':
      return `[${n.name}]`;
    case 'identifier':
      return n.name;
    case 'compare':
      return `${printNode(n.left)} ${n.op} ${printNode(n.right)}`;
    case 'call':
      return `${n.name}(${n.args.map((a) => (a === null ? '' : printNode(a))).join(', ')})`;
  }
}

/** Visits every node (pre-order). */
export function walk(n: Node, visit: (n: Node) => void): void {
  visit(n);
  if (n.type === 'compare') {
    walk(n.left, visit);
    walk(n.right, visit);
  } else if (n.type === 'call') {
    for (const a of n.args) if (a) walk(a, visit);
  }
}

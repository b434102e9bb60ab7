import type { GraphBuilder, ValueRef } from '../../graph/builder.ts';

/**
 * Exact GELU, x·½(1 + erf(x/√2)) (torch's default, not the tanh approximation). Opset >= 20 has it as one
 * op (`Gelu`, approximate 'none'), which ORT runs as a single kernel; older opsets get the erf formula.
 */
export function gelu(g: GraphBuilder, x: ValueRef): ValueRef {
  if (g.opset >= 20) return g.op1('Gelu', [x]);
  const inner = g.erf(g.mul(x, g.scalar(Math.SQRT1_2)));
  return g.mul(g.mul(x, g.add(inner, g.scalar(1))), g.scalar(0.5));
}

/** CLIP's quick_gelu: x·sigmoid(1.702x). */
export function quickGelu(g: GraphBuilder, x: ValueRef): ValueRef {
  return g.mul(x, g.sigmoid(g.mul(x, g.scalar(1.702))));
}

/** Activation by its config name (`act_fn`, `hidden_act`); unknown names fail with the allowed list. */
export function activation(g: GraphBuilder, name: string, x: ValueRef): ValueRef {
  switch (name) {
    case 'silu':
    case 'swish':
      return g.silu(x);
    case 'gelu':
      return gelu(g, x);
    case 'quick_gelu':
      return quickGelu(g, x);
    default:
      throw new Error(`Unsupported activation "${name}": allowed are silu, swish, gelu, quick_gelu.`);
  }
}

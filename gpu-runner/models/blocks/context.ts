import type { GraphBuilder } from '../../graph/builder.ts';
import type { WeightSource } from '../weights.ts';

/** What every block builder needs: the graph being built and the parameters to bind by name. */
export interface BlockContext {
  readonly g: GraphBuilder;
  readonly weights: WeightSource;
}

/** Joins a module path and a child name the way diffusers' state-dict keys do. */
export function child(prefix: string, name: string | number): string {
  return prefix ? `${prefix}.${name}` : String(name);
}

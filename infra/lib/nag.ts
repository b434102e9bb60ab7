/**
 * Acknowledging cdk-nag (AwsSolutions) and CloudFormation-validator findings. Every acknowledgment carries the
 * reason it is acceptable; the tests fail on any finding left unacknowledged.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag AwsSolutions rule on a construct and everything under it.
 * @example acknowledgeNagRule(bucket, 'AwsSolutions-S1', 'why access logs are not needed')
 */
export function acknowledgeNagRule(scope: IConstruct, ruleId: string, reason: string): void {
  if (!/^AwsSolutions-[A-Z]+\d+(\[.+\])?$/.test(ruleId)) {
    throw new Error(`acknowledgeNagRule: '${ruleId}' is not an AwsSolutions rule id like 'AwsSolutions-S1' or 'AwsSolutions-IAM5[Resource::*]'.`);
  }
  if (reason.trim().length < 20) {
    throw new Error(`acknowledgeNagRule: the reason for ${ruleId} is '${reason}'; write a sentence a reviewer can check (at least 20 characters).`);
  }
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${ruleId}`, reason });
}

/**
 * Acknowledges AwsSolutions-IAM5 for exactly these wildcard resources (object keys under a prefix, task ids):
 * each resource is rendered the way cdk-nag names it, so any other wildcard still fails.
 */
export function acknowledgeWildcardResources(scope: IConstruct, resources: readonly string[], reason: string): void {
  const stack = Stack.of(scope);
  for (const resource of resources) {
    acknowledgeNagRule(scope, `AwsSolutions-IAM5[Resource::${renderForNag(stack.resolve(resource))}]`, reason);
  }
}

/** Renders a resolved CloudFormation value as cdk-nag prints it: Ref → <Name>, GetAtt → <Name.Attr>, joins concatenated. */
export function renderForNag(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const node = value as Record<string, unknown>;
    if ('Ref' in node) return `<${String(node.Ref)}>`;
    if ('Fn::GetAtt' in node) return `<${(node['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in node) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map(renderForNag).join(separator);
    }
  }
  throw new Error(`renderForNag: cannot render ${JSON.stringify(value)}; expected a string, Ref, Fn::GetAtt or Fn::Join.`);
}

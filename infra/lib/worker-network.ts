import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';

import { Construct } from 'constructs';

export interface WorkerNetworkProps {
  /**
   * How many availability zones to spread the GPU instances over (the stack's zones, fixed in cdk.json).
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * Days the rejected-traffic flow logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/**
 * The VPC of the GPU workers: public subnets only, no NAT gateway, no interface endpoints.
 *
 * Why: workers must reach SQS, DynamoDB, S3, ECR, CloudWatch Logs, Secrets Manager, the ECS control plane and the
 * callers' webhook URLs, and webhooks go to the open internet, so private subnets would need a NAT gateway anyway.
 * At us-east-1 list prices (approximate, late 2026), a NAT gateway costs about $0.045/hour (~$33/month) plus
 * $0.045/GB, and the seven interface endpoints the workers would need cost about $0.01/hour per zone each
 * (~$100/month for two zones), all of it paid while the service is idle. Public subnets cost nothing idle; a running
 * worker pays for its public IPv4 address (~$0.005/hour). Instances accept no inbound traffic (the security group has
 * no ingress rule) and require IMDSv2. Free gateway endpoints keep S3 and DynamoDB traffic on the AWS network.
 */
export class WorkerNetwork extends Construct {
  readonly vpc: ec2.Vpc;

  constructor(scope: Construct, id: string, props: WorkerNetworkProps = {}) {
    super(scope, id);
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.maxAzs ?? 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20, mapPublicIpOnLaunch: true }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        // Rejected traffic only: the useful signal for a VPC with no inbound traffic, at almost no ingestion cost.
        Rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    Validations.of(this.vpc).acknowledge({
      id: 'CloudFormation-Validate::W3010',
      reason: 'The zones are fixed in cdk.json on purpose: synth needs no AWS lookup, and GPU instance types exist only in some zones of a region.',
    });
  }
}

import { Duration, Stack } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface QueueDepthScalingProps {
  readonly cluster: ecs.ICluster;
  readonly service: ecs.BaseService;
  readonly queue: sqs.IQueue;
  /** The most tasks at once. */
  readonly maxTasks: number;
  /**
   * Jobs (waiting plus in progress) per running task that target tracking aims for. A job takes minutes and a task
   * runs one at a time, so 1 means "one worker per job", up to `maxTasks`.
   * @default 1
   */
  readonly backlogPerTaskTarget?: number;
  /**
   * Wait after a scale-in before the next one.
   * @default Duration.minutes(5)
   */
  readonly scaleInCooldown?: Duration;
  /**
   * Wait after a scale-out before the next one.
   * @default Duration.minutes(1)
   */
  readonly scaleOutCooldown?: Duration;
}

/**
 * Drives the runner service's desired count from the queue, between 0 and `maxTasks`, with two policies:
 *
 * 1. Wake-up (step scaling, 0 → 1): an alarm fires when messages are waiting or in flight while the service wants
 *    0 tasks. Target tracking alone cannot leave 0, because with no tasks there is no per-task value to track.
 * 2. Backlog per task (target tracking with metric math): (visible + in-flight messages) / running tasks, held at
 *    `backlogPerTaskTarget`. It scales out while jobs wait and, once the queue stays empty, scales in to 0.
 *
 * There is deliberately no CPU policy: a busy GPU worker may show little CPU, and a CPU scale-in would stop it
 * mid-job. Scale-in never interrupts a job either way: the runner turns on ECS task scale-in protection while busy.
 */
export class QueueDepthScaling extends Construct {
  readonly scalableTarget: appscaling.ScalableTarget;
  readonly wakeUpAlarm: cloudwatch.Alarm;
  readonly backlogPolicy: appscaling.CfnScalingPolicy;
  readonly backlogPerTaskTarget: number;

  constructor(scope: Construct, id: string, props: QueueDepthScalingProps) {
    super(scope, id);
    this.backlogPerTaskTarget = props.backlogPerTaskTarget ?? 1;
    if (!(this.backlogPerTaskTarget > 0)) {
      throw new Error(`QueueDepthScaling backlogPerTaskTarget is ${this.backlogPerTaskTarget}; it must be above 0 (jobs per task).`);
    }
    if (!Number.isInteger(props.maxTasks) || props.maxTasks < 1) {
      throw new Error(`QueueDepthScaling maxTasks is ${props.maxTasks}; it must be a whole number of at least 1.`);
    }

    this.scalableTarget = new appscaling.ScalableTarget(this, 'Target', {
      serviceNamespace: appscaling.ServiceNamespace.ECS,
      resourceId: `service/${props.cluster.clusterName}/${props.service.serviceName}`,
      scalableDimension: 'ecs:service:DesiredCount',
      minCapacity: 0,
      maxCapacity: props.maxTasks,
      // ECS scaling runs under Application Auto Scaling's service-linked role (created on first use), as CDK's own
      // ECS scaling does; a new role of ours would carry no permissions.
      role: iam.Role.fromRoleArn(
        this,
        'ServiceLinkedRole',
        Stack.of(this).formatArn({
          region: '',
          service: 'iam',
          resource: 'role/aws-service-role/ecs.application-autoscaling.amazonaws.com',
          resourceName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
        }),
      ),
    });

    const period = Duration.minutes(1);
    const queueMetric = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'AWS/SQS',
        metricName,
        dimensionsMap: { QueueName: props.queue.queueName },
        statistic: 'Maximum',
        period,
      });
    const taskMetric = (metricName: string): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensionsMap: { ClusterName: props.cluster.clusterName, ServiceName: props.service.serviceName },
        statistic: 'Average',
        period,
      });

    // 1. Wake-up: IF(service wants no task AND there is work, 1, 0). FILL: Container Insights may skip an empty service.
    this.wakeUpAlarm = new cloudwatch.Alarm(this, 'WakeUpAlarm', {
      alarmDescription: 'Jobs are queued while the runner service has no task: scale it from 0 to 1.',
      metric: new cloudwatch.MathExpression({
        expression: 'IF(FILL(desired, 0) == 0 AND (visible + inflight) >= 1, 1, 0)',
        usingMetrics: {
          visible: queueMetric('ApproximateNumberOfMessagesVisible'),
          inflight: queueMetric('ApproximateNumberOfMessagesNotVisible'),
          desired: taskMetric('DesiredTaskCount'),
        },
        period,
        label: 'Jobs waiting with no runner',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const wakeUp = new appscaling.StepScalingAction(this, 'WakeUp', {
      scalingTarget: this.scalableTarget,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      metricAggregationType: appscaling.MetricAggregationType.MAXIMUM,
      cooldown: Duration.minutes(2),
    });
    wakeUp.addAdjustment({ adjustment: 1, lowerBound: 0 });
    this.wakeUpAlarm.addAlarmAction(new cwActions.ApplicationScalingAction(wakeUp));

    // 2. Backlog per running task, with metric math (the L2 target tracking policy takes no math expressions).
    const queueName = props.queue.queueName;
    const sqsStat = (id: string, metricName: string) => ({
      id,
      returnData: false,
      metricStat: {
        metric: { namespace: 'AWS/SQS', metricName, dimensions: [{ name: 'QueueName', value: queueName }] },
        stat: 'Maximum',
      },
    });
    this.backlogPolicy = new appscaling.CfnScalingPolicy(this, 'BacklogPerTask', {
      policyName: `${Stack.of(this).stackName}-backlog-per-task`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.scalableTargetId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: this.backlogPerTaskTarget,
        scaleInCooldown: (props.scaleInCooldown ?? Duration.minutes(5)).toSeconds(),
        scaleOutCooldown: (props.scaleOutCooldown ?? Duration.minutes(1)).toSeconds(),
        customizedMetricSpecification: {
          metrics: [
            sqsStat('visible', 'ApproximateNumberOfMessagesVisible'),
            sqsStat('inflight', 'ApproximateNumberOfMessagesNotVisible'),
            {
              id: 'running',
              returnData: false,
              metricStat: {
                metric: {
                  namespace: 'ECS/ContainerInsights',
                  metricName: 'RunningTaskCount',
                  dimensions: [
                    { name: 'ClusterName', value: props.cluster.clusterName },
                    { name: 'ServiceName', value: props.service.serviceName },
                  ],
                },
                stat: 'Average',
              },
            },
            { id: 'tasks', expression: 'FILL(running, 0)', returnData: false },
            {
              id: 'backlogPerTask',
              // While the first instance boots no task runs yet: count the whole backlog against one task.
              expression: 'IF(tasks > 0, (visible + inflight) / tasks, visible + inflight)',
              label: 'Jobs per running task',
              returnData: true,
            },
          ],
        },
      },
    });
  }
}

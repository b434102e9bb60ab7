import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The namespace of the metrics the stack derives from the runner's logs. */
export const WORKER_METRIC_NAMESPACE = 'OcdVideoEdit/Runner';

export interface ServiceAlarmsProps {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The runner's log group: job outcomes are counted from its JSON lines. */
  readonly workerLogGroup: logs.ILogGroup;
  /**
   * Alarm when the oldest waiting job is older than this. A cold start (GPU instance, image pull, model download)
   * takes about 5-10 minutes, so keep it well above that.
   * @default Duration.minutes(30)
   */
  readonly maxJobAge?: Duration;
  /**
   * Alarm when this fraction of the jobs finished in 15 minutes failed.
   * @default 0.5
   */
  readonly maxErrorRate?: number;
  /**
   * Fewer finished jobs than this in 15 minutes never raise the error-rate alarm (one bad upload is not an outage).
   * @default 3
   */
  readonly minJobsForErrorRate?: number;
  /**
   * Log pattern of a job that finished as failed: the runner logs one JSON record per job with its `outcome`.
   * @default '{ $.outcome = "failed" }'
   */
  readonly failedJobPattern?: string;
  /**
   * Log pattern of a job that finished (succeeded or failed).
   * @default '{ ($.outcome = "succeeded") || ($.outcome = "failed") }'
   */
  readonly finishedJobPattern?: string;
}

/**
 * The operator's alarms: jobs in the dead-letter queue, jobs waiting too long, and runner error rate.
 * They have no actions; subscribe a topic or chat integration to them (docs/deploy.md).
 */
export class ServiceAlarms extends Construct {
  readonly deadLetterQueueNotEmpty: cloudwatch.Alarm;
  readonly oldestJobAge: cloudwatch.Alarm;
  readonly workerErrorRate: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    const maxErrorRate = props.maxErrorRate ?? 0.5;
    if (!(maxErrorRate > 0 && maxErrorRate <= 1)) {
      throw new Error(`ServiceAlarms maxErrorRate is ${maxErrorRate}; it is a fraction above 0 and at most 1 (0.5 = half the jobs).`);
    }
    const minJobs = props.minJobsForErrorRate ?? 3;

    this.deadLetterQueueNotEmpty = new cloudwatch.Alarm(this, 'DeadLetterQueueNotEmpty', {
      alarmDescription: 'A job message failed every delivery and sits in the dead-letter queue. Inspect it; its job is marked failed.',
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const maxJobAge = props.maxJobAge ?? Duration.minutes(30);
    this.oldestJobAge = new cloudwatch.Alarm(this, 'OldestJobAge', {
      alarmDescription: `The oldest queued job has waited more than ${maxJobAge.toMinutes()} minutes: workers are not starting or not keeping up.`,
      metric: props.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: maxJobAge.toSeconds(),
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const countOf = (metricName: string, pattern: string): cloudwatch.Metric =>
      new logs.MetricFilter(this, `${metricName}Filter`, {
        logGroup: props.workerLogGroup,
        filterPattern: logs.FilterPattern.literal(pattern),
        metricNamespace: WORKER_METRIC_NAMESPACE,
        metricName,
        metricValue: '1',
        defaultValue: 0,
      }).metric({ statistic: 'Sum', period: Duration.minutes(15) });
    const failed = countOf('JobsFailed', props.failedJobPattern ?? '{ $.outcome = "failed" }');
    const finished = countOf('JobsFinished', props.finishedJobPattern ?? '{ ($.outcome = "succeeded") || ($.outcome = "failed") }');
    this.workerErrorRate = new cloudwatch.Alarm(this, 'WorkerErrorRate', {
      alarmDescription: `More than ${maxErrorRate * 100}% of the jobs finished in 15 minutes failed (at least ${minJobs} jobs).`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(finished >= ${minJobs}, failed / finished, 0)`,
        usingMetrics: { failed, finished },
        period: Duration.minutes(15),
        label: 'Failed job fraction',
      }),
      threshold: maxErrorRate,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}

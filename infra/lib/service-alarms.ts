import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, type JobOutcome } from '../../gpu-runner/worker/job-metrics.ts';

export interface ServiceAlarmsProps {
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Alarm when the oldest waiting job is older than this. A cold start (GPU instance, image pull, model download)
   * takes about 5-10 minutes, so keep it well above that.
   * @default Duration.minutes(30)
   */
  readonly maxJobAge?: Duration;
  /**
   * Alarm when this fraction of the job runs that ended in 15 minutes ended in an error.
   * @default 0.5
   */
  readonly maxErrorRate?: number;
  /**
   * Fewer ended runs than this in 15 minutes never raise the error-rate alarm (one bad upload is not an outage).
   * @default 3
   */
  readonly minJobsForErrorRate?: number;
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
      // Visible plus in flight: the runners' dead-letter sweep hides messages it has looked at, and they still count.
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(visible, 0) + FILL(hidden, 0)',
        usingMetrics: {
          visible: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
          hidden: props.deadLetterQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
        },
        period: Duration.minutes(5),
        label: 'Messages in the dead-letter queue',
      }),
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

    // The runner writes one Embedded Metric Format record per job run: metric `Jobs` with the dimension `Outcome`.
    const runsEndingIn = (outcome: JobOutcome): cloudwatch.Metric =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'Jobs',
        dimensionsMap: { Outcome: outcome },
        statistic: 'Sum',
        period: Duration.minutes(15),
      });
    // FILL: an outcome with no run in the period has no data point, which must count as 0.
    const errors = new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(retrying, 0)',
      usingMetrics: { failed: runsEndingIn('failed'), retrying: runsEndingIn('retrying') },
      period: Duration.minutes(15),
    });
    const ended = new cloudwatch.MathExpression({
      expression: 'errors + FILL(succeeded, 0)',
      usingMetrics: { errors, succeeded: runsEndingIn('succeeded') },
      period: Duration.minutes(15),
    });
    this.workerErrorRate = new cloudwatch.Alarm(this, 'WorkerErrorRate', {
      alarmDescription: `More than ${maxErrorRate * 100}% of the job runs that ended in 15 minutes failed or hit a transient error (at least ${minJobs} runs).`,
      metric: new cloudwatch.MathExpression({
        expression: `IF(ended >= ${minJobs}, errors / ended, 0)`,
        usingMetrics: { errors, ended },
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

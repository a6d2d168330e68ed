/**
 * Server state is fetched and cached by one mechanism (TanStack Query): each hook names its
 * query key, and a finished job invalidates what it changed.
 */
import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { useApi } from '../session';
import type { Job } from './types';

export const isFinished = (job: Job | undefined) => job?.status === 'completed' || job?.status === 'failed' || job?.status === 'cancelled';

/** What a finished job of each kind may have changed. */
export function invalidateAfter(client: QueryClient, job: Job): void {
  const keys: string[][] = [['jobs'], ['status'], ['health']];
  if (job.kind.startsWith('snapshot.')) keys.push(['snapshots'], ['snapshot-health'], ['pipeline'], ['index-check'], ['uploads'], ['control'], ['search']);
  if (job.kind.startsWith('ingest.')) keys.push(['pipeline'], ['uploads'], ['index-check'], ['snapshots'], ['control'], ['search']);
  if (job.kind === 'index.sync') keys.push(['index-check'], ['pipeline'], ['search']);
  for (const queryKey of keys) void client.invalidateQueries({ queryKey });
}

/** One job, polled until it finishes; what it changed is refetched when it does. */
export function useJob(jobId: string | null | undefined) {
  const api = useApi();
  const client = useQueryClient();
  const query = useQuery({
    queryKey: ['job', jobId],
    queryFn: () => api.job(jobId as string),
    enabled: Boolean(jobId),
    refetchInterval: (q) => (isFinished(q.state.data) ? false : 700),
  });
  const announced = useRef<string | null>(null);
  const job = query.data;
  useEffect(() => {
    if (job && isFinished(job) && announced.current !== job.job_id) {
      announced.current = job.job_id;
      invalidateAfter(client, job);
    }
  }, [job, client]);
  return query;
}

/** Jobs that are queued or running on the server, whoever started them: found again after a reload. */
export function useActiveJobs() {
  const api = useApi();
  return useQuery({
    queryKey: ['jobs', 'active'],
    queryFn: async () => {
      const [running, pending] = await Promise.all([api.jobs({ status: 'running' }), api.jobs({ status: 'pending' })]);
      return [...running.jobs, ...pending.jobs];
    },
    refetchInterval: 1000,
  });
}

/** The newest jobs (any status), for "what happened last" panels. */
export function useRecentJobs(limit = 50) {
  const api = useApi();
  return useQuery({ queryKey: ['jobs', 'recent', limit], queryFn: () => api.jobs({ limit }), refetchInterval: 5000 });
}

namespace Probe.Data;

/// <summary>One batch read from a data set: samples [Start, Start + Count), flattened row-major, and their labels.</summary>
public sealed record DataBatch(int Start, int Count, float[] Values, int[]? Labels);

/// <summary>Reading a data set ahead of its consumer, on other threads.</summary>
public static class Prefetch
{
    /// <summary>
    /// The batches of <paramref name="data"/> in order (batch i holds samples [i·batchSize, ...)), read ahead by
    /// <paramref name="workers"/> background threads while the consumer works: at most <paramref name="prefetch"/>
    /// batches are read beyond the one the consumer holds, so memory stays bounded. Workers read different batches
    /// concurrently (<see cref="IDataset.ReadBatch"/> is thread-safe) and batches are handed out in order. Each batch
    /// gets a fresh array, which the consumer owns. An error reading a batch is thrown to the consumer when it reaches
    /// that batch. Stopping the enumeration early (or cancelling <paramref name="cancellation"/>) stops the workers and
    /// waits for them, so the data set may be disposed right after. <paramref name="prefetch"/> 0 reads on the
    /// consumer's thread.
    /// </summary>
    public static IEnumerable<DataBatch> Batches(this IDataset data, int batchSize, int prefetch = 2, int workers = 1, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize < 1) throw new ProbeException($"Batch size must be positive, got {batchSize}.");
        if (prefetch < 0) throw new ProbeException($"Prefetch depth must be 0 or more, got {prefetch}.");
        if (workers < 1) throw new ProbeException($"Prefetch needs at least one worker, got {workers}.");
        return prefetch == 0 ? Serial(data, batchSize, cancellation) : Ahead(data, batchSize, prefetch, workers, cancellation);
    }

    static DataBatch Read(IDataset data, int index, int batchSize)
    {
        int start = index * batchSize;
        int n = Math.Min(batchSize, data.Count - start);
        var values = new float[(long)n * data.SampleSize()];
        data.ReadBatch(start, n, values);
        return new DataBatch(start, n, values, data.Labels?.AsSpan(start, n).ToArray());
    }

    static IEnumerable<DataBatch> Serial(IDataset data, int batchSize, CancellationToken ct)
    {
        int batches = (data.Count + batchSize - 1) / batchSize;
        for (int i = 0; i < batches; i++)
        {
            ct.ThrowIfCancellationRequested();
            yield return Read(data, i, batchSize);
        }
    }

    static IEnumerable<DataBatch> Ahead(IDataset data, int batchSize, int prefetch, int workers, CancellationToken ct)
    {
        int batches = (data.Count + batchSize - 1) / batchSize;
        if (batches == 0) yield break;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var gate = new object();
        var done = new Dictionary<int, (DataBatch? Batch, Exception? Error)>();
        int next = 0;       // the next batch a worker will take
        int consumed = 0;   // batches handed to the consumer
        void Work()
        {
            while (true)
            {
                int i;
                lock (gate)
                {
                    while (!stop.IsCancellationRequested && next < batches && next >= consumed + prefetch)
                        Monitor.Wait(gate);
                    if (stop.IsCancellationRequested || next >= batches) return;
                    i = next++;
                }
                (DataBatch?, Exception?) result;
                try { result = (Read(data, i, batchSize), null); }
                catch (Exception e) { result = (null, e); }
                lock (gate)
                {
                    done[i] = result;
                    Monitor.PulseAll(gate);
                }
                if (result.Item2 != null) return;
            }
        }
        var threads = Enumerable.Range(0, Math.Min(workers, batches)).Select(_ => Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        using var wake = stop.Token.Register(() => { lock (gate) Monitor.PulseAll(gate); });
        try
        {
            for (int i = 0; i < batches; i++)
            {
                (DataBatch? Batch, Exception? Error) r;
                lock (gate)
                {
                    while (!done.ContainsKey(i) && !stop.IsCancellationRequested) Monitor.Wait(gate);
                    stop.Token.ThrowIfCancellationRequested();
                    r = done[i];
                    done.Remove(i);
                    consumed = i + 1;
                    Monitor.PulseAll(gate);
                }
                if (r.Error != null)
                {
                    if (r.Error is ProbeException or OperationCanceledException) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(r.Error).Throw();
                    throw new ProbeException($"Reading batch {i} of data set '{data.Name}' failed: {r.Error.Message}", r.Error);
                }
                yield return r.Batch!;
            }
        }
        finally
        {
            stop.Cancel();
            lock (gate) Monitor.PulseAll(gate);
            try { Task.WaitAll(threads); } catch (AggregateException) { }
        }
    }
}

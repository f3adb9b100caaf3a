using System.Collections.Concurrent;

namespace Probe.Data;

/// <summary>
/// Reads a data set batch by batch with decoding running ahead of the consumer on another thread: while the model
/// runs on batch i, batches i+1 … i+<c>prefetch</c> are being read (image decoding, memory-mapped conversion).
/// Buffers are reused, so memory stays at (prefetch + 2) batches.
/// </summary>
public static class BatchReader
{
    /// <summary>
    /// The batches of <paramref name="data"/> in order: (first sample, samples, buffer). The buffer holds
    /// samples × <see cref="DatasetExtensions.SampleSize"/> floats at its start and is valid until the next batch is asked
    /// for. A read error is rethrown to the consumer; cancellation stops the reader between batches.
    /// </summary>
    public static IEnumerable<(int Start, int Count, float[] Buffer)> Read(IDataset data, int batchSize, CancellationToken cancel = default, int prefetch = 2)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (batchSize <= 0) throw new ProbeException($"Batch size must be positive, got {batchSize}.");
        int size = data.SampleSize();
        int batches = (data.Count + batchSize - 1) / batchSize;
        if (batches == 0) yield break;
        int length = checked(Math.Min(batchSize, data.Count) * size);
        if (prefetch <= 0 || batches == 1)
        {
            var buffer = GC.AllocateUninitializedArray<float>(length);
            for (int b = 0; b < batches; b++)
            {
                cancel.ThrowIfCancellationRequested();
                int start = b * batchSize, n = Math.Min(batchSize, data.Count - start);
                data.ReadBatch(start, n, buffer.AsSpan(0, n * size));
                yield return (start, n, buffer);
            }
            yield break;
        }

        var free = new BlockingCollection<float[]>();
        for (int i = 0; i < prefetch + 2; i++) free.Add(GC.AllocateUninitializedArray<float>(length));
        var ready = new BlockingCollection<(int Start, int Count, float[] Buffer)>(prefetch);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Exception? failure = null;
        var reader = Task.Run(() =>
        {
            try
            {
                for (int b = 0; b < batches; b++)
                {
                    var buffer = free.Take(stop.Token);
                    int start = b * batchSize, n = Math.Min(batchSize, data.Count - start);
                    data.ReadBatch(start, n, buffer.AsSpan(0, n * size));
                    ready.Add((start, n, buffer), stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) { failure = e; }
            finally { ready.CompleteAdding(); }
        });
        float[]? previous = null;
        try
        {
            while (true)
            {
                if (previous != null) { free.Add(previous); previous = null; }
                (int Start, int Count, float[] Buffer) item;
                try
                {
                    if (!ready.TryTake(out item, Timeout.Infinite, cancel)) break;
                }
                catch (InvalidOperationException) { break; } // completed while waiting
                previous = item.Buffer;
                yield return item;
            }
            cancel.ThrowIfCancellationRequested();
            if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally
        {
            stop.Cancel();
            try { reader.Wait(); } catch (AggregateException) { }
            ready.Dispose();
            free.Dispose();
        }
    }
}

using System.Globalization;

namespace Probe.Data;

/// <summary>
/// One of <see cref="Count"/> processes sharing a data set (<c>--shard i/n</c>, 0 ≤ i &lt; n, as a Slurm array task id
/// or a Kubernetes indexed Job's completion index gives it). Shard i handles a contiguous slice of whole batches:
/// the batches are split as evenly as possible, in order, so the shards' slices are disjoint, cover the data set, and
/// cut it at the same batch boundaries one process would use (minibatch CKA then sums the very same minibatches).
/// </summary>
public sealed record Shard(int Index, int Count)
{
    /// <summary>Parses <c>i/n</c>.</summary>
    public static Shard Parse(string text)
    {
        var parts = (text ?? "").Split('/');
        if (parts.Length != 2
            || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            || n < 1 || i >= n)
            throw new ProbeException($"--shard takes i/n with 0 <= i < n (e.g. 0/4 for the first of four shards), got '{text}'.");
        return new Shard(i, n);
    }

    /// <summary>The first sample and the number of samples of this shard's slice of <paramref name="samples"/> samples.</summary>
    public (int Start, int Count) Range(int samples, int batchSize)
    {
        if (batchSize < 1) throw new ProbeException($"Batch size must be positive, got {batchSize}.");
        int batches = (samples + batchSize - 1) / batchSize;
        if (Count > batches)
            throw new ProbeException($"{Count} shards for {samples} samples in {batches} batch(es) of {batchSize}: every shard needs at least one batch. Use fewer shards or a smaller --batch-size.");
        long first = (long)batches * Index / Count, last = (long)batches * (Index + 1) / Count;
        int start = (int)(first * batchSize);
        int end = (int)Math.Min(samples, last * batchSize);
        return (start, end - start);
    }

    /// <summary>This shard's slice of <paramref name="data"/>, streamed.</summary>
    public IDataset Slice(IDataset data, int batchSize)
    {
        var (start, count) = Range(data.Count, batchSize);
        return data.Subset(Enumerable.Range(start, count).ToArray(), $"{data.Name} (shard {this})");
    }

    /// <summary><c>i/n</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}

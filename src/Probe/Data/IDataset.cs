namespace Probe.Data;

/// <summary>
/// A data set as a stream of batches: it knows its length, the shape of one sample, its labels and class names, and
/// reads any contiguous run of samples on request. Sources that cannot fit in memory (a memory-mapped .npy, an image
/// folder, CIFAR batches) implement this directly and never hold the whole set; <see cref="Dataset"/> is the in-memory
/// implementation. Capture and the streaming analyses consume only this interface.
/// </summary>
/// <remarks>
/// <see cref="ReadBatch"/> must be safe to call from a thread other than the one that created the data set (decoding
/// runs ahead of the model on other threads) and may be called concurrently for disjoint ranges.
/// </remarks>
public interface IDataset
{
    /// <summary>A short name for messages and reports (file or folder name, "digits").</summary>
    string Name { get; }

    /// <summary>The number of samples.</summary>
    int Count { get; }

    /// <summary>The shape of one sample as the model receives it, e.g. [3, 224, 224] or [64].</summary>
    int[] SampleShape { get; }

    /// <summary>One integer class label per sample (0-based), or null when the data set has none. Labels are small, so they are held in memory.</summary>
    int[]? Labels { get; }

    /// <summary>The name of each class (index = label), or null when the source does not name its classes.</summary>
    IReadOnlyList<string>? ClassNames { get; }

    /// <summary>
    /// Writes samples [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) into
    /// <paramref name="destination"/>, row-major, each sample flattened (count × product(SampleShape) floats), with every
    /// transform (scaling, normalisation, resizing) already applied.
    /// </summary>
    void ReadBatch(int start, int count, Span<float> destination);

    /// <summary>
    /// The number of samples of the data set this one was taken from (by <see cref="DatasetExtensions.Subset"/>, a
    /// sample cap, a <see cref="Shard"/>'s slice, through any number of those): <see cref="Count"/> for a data set not
    /// taken from another. Arrays aligned with the original data set (an ONNX model's side inputs) must have this many rows.
    /// </summary>
    int OriginalCount => Count;

    /// <summary>Sample <paramref name="index"/>'s row in the data set this one was taken from (see <see cref="OriginalCount"/>).</summary>
    int OriginalRow(int index) => index;
}

/// <summary>Helpers every <see cref="IDataset"/> gets.</summary>
public static class DatasetExtensions
{
    /// <summary>The number of floats in one sample (the product of <see cref="IDataset.SampleShape"/>).</summary>
    public static int SampleSize(this IDataset data)
    {
        long n = 1;
        foreach (var d in data.SampleShape) n *= d;
        return checked((int)n);
    }

    /// <summary>The number of classes: the class names' count when known, else max label + 1, else 0.</summary>
    public static int ClassCountOf(this IDataset data) =>
        data.ClassNames is { Count: > 0 } names ? names.Count
        : data.Labels is { Length: > 0 } l ? l.Max() + 1 : 0;

    /// <summary>
    /// The samples at <paramref name="rows"/> (in that order) as a streamed view: batches read only the rows asked for,
    /// runs of consecutive rows in one call. Use <see cref="ToMemory"/> to materialise it.
    /// </summary>
    public static IDataset Subset(this IDataset data, IReadOnlyList<int> rows, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data is Dataset d) return d.Subset(rows, name);
        return new SubsetDataset(data, rows.ToArray(), name ?? data.Name);
    }

    /// <summary>Reads every sample into an in-memory <see cref="Dataset"/> (only for data sets that fit in memory).</summary>
    public static Dataset ToMemory(this IDataset data, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data is Dataset d) return d;
        int size = data.SampleSize();
        long total = (long)data.Count * size;
        if (total > Array.MaxLength)
            throw new ProbeException($"Data set '{data.Name}' has {data.Count} samples of {size} values ({total * 4L / (1L << 20)} MiB): too large to hold in memory. Use --max-samples to analyse a uniform sample.");
        var values = GC.AllocateUninitializedArray<float>((int)total);
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, data.Count - start);
            data.ReadBatch(start, n, values.AsSpan(start * size, n * size));
        }
        return new Dataset(data.Name, new Matrix(data.Count, size, values), data.Labels, data.SampleShape) { ClassNames = data.ClassNames }
            .WithOrigin(data);
    }

    private sealed class SubsetDataset(IDataset inner, int[] rows, string name) : IDataset
    {
        readonly int[]? _labels = inner.Labels is { } l ? rows.Select(r => l[r]).ToArray() : null;
        public string Name { get; } = name;
        public int Count => rows.Length;
        public int[] SampleShape => inner.SampleShape;
        public int[]? Labels => _labels;
        public IReadOnlyList<string>? ClassNames => inner.ClassNames;
        public int OriginalCount => inner.OriginalCount;
        public int OriginalRow(int index) => inner.OriginalRow(rows[index]);

        public void ReadBatch(int start, int count, Span<float> destination)
        {
            if (start < 0 || count < 0 || start + count > rows.Length)
                throw new ProbeException($"Rows {start}..{start + count} are outside a data set of {rows.Length} samples.");
            int size = inner.SampleSize();
            int i = 0;
            while (i < count)
            {
                int j = i + 1;
                while (j < count && rows[start + j] == rows[start + j - 1] + 1) j++;
                inner.ReadBatch(rows[start + i], j - i, destination.Slice(i * size, (j - i) * size));
                i = j;
            }
        }
    }
}

namespace Probe.Data;

/// <summary>
/// Samples with optional integer class labels. <see cref="Features"/> holds one flattened sample per row;
/// <see cref="SampleShape"/> gives the shape of one sample for models that need it (for example [1, 8, 8] for an
/// 8x8 gray image, [64] for a plain vector).
/// </summary>
public sealed record Dataset(string Name, Matrix Features, int[]? Labels, int[] SampleShape) : IDataset
{
    public int Count => Features.Rows;

    /// <summary>The name of each class (index = label), when the source names them.</summary>
    public IReadOnlyList<string>? ClassNames { get; init; }

    /// <inheritdoc/>
    public void ReadBatch(int start, int count, Span<float> destination)
    {
        if (start < 0 || count < 0 || start + count > Count)
            throw new ProbeException($"Rows {start}..{start + count} are outside data set '{Name}' of {Count} samples.");
        Features.Data.AsSpan(start * Features.Cols, count * Features.Cols).CopyTo(destination);
    }

    /// <summary>The number of classes (max label + 1), or 0 when unlabelled.</summary>
    public int ClassCount => Labels is { Length: > 0 } l ? l.Max() + 1 : 0;

    /// <summary>Checks that shapes and label counts agree; returns this.</summary>
    public Dataset Validate()
    {
        long per = 1;
        foreach (var d in SampleShape) per *= d;
        if (per != Features.Cols)
            throw new ProbeException($"Data set '{Name}': sample shape [{string.Join(", ", SampleShape)}] holds {per} values but each row has {Features.Cols}.");
        if (Labels != null && Labels.Length != Features.Rows)
            throw new ProbeException($"Data set '{Name}': {Labels.Length} labels for {Features.Rows} samples.");
        if (Labels != null && Labels.Any(l => l < 0))
            throw new ProbeException($"Data set '{Name}': labels must be 0 or greater.");
        return this;
    }

    /// <summary>The samples in consecutive batches of at most <paramref name="batchSize"/> rows, in order.</summary>
    public IEnumerable<Batch> Batches(int batchSize)
    {
        if (batchSize <= 0) throw new ProbeException($"Batch size must be positive, got {batchSize}.");
        for (int start = 0; start < Count; start += batchSize)
        {
            int n = Math.Min(batchSize, Count - start);
            yield return new Batch(start, Features.Slice(start, n), Labels?.AsSpan(start, n).ToArray());
        }
    }

    /// <summary>A data set of the given rows (in the given order); it remembers each row's place in the original data set.</summary>
    public Dataset Subset(IReadOnlyList<int> rows, string? name = null) =>
        new(name ?? Name, Features.SelectRows(rows), Labels == null ? null : rows.Select(r => Labels[r]).ToArray(), SampleShape)
        {
            ClassNames = ClassNames,
            _originalRows = rows.Select(OriginalRow).ToArray(),
            _originalCount = OriginalCount,
        };

    // Set on a subset: its rows' places in the data set it was taken from, and that data set's sample count.
    int[]? _originalRows;
    int? _originalCount;

    /// <inheritdoc/>
    public int OriginalCount => _originalCount ?? Count;

    /// <inheritdoc/>
    public int OriginalRow(int index) => _originalRows is { } rows ? rows[index] : index;

    /// <summary>This data set (holding <paramref name="data"/>'s samples in order) with <paramref name="data"/>'s original rows.</summary>
    internal Dataset WithOrigin(IDataset data)
    {
        if (data.OriginalCount == Count && Enumerable.Range(0, Count).All(i => data.OriginalRow(i) == i)) return this;
        return this with { _originalRows = Enumerable.Range(0, Count).Select(data.OriginalRow).ToArray(), _originalCount = data.OriginalCount };
    }
}

/// <summary>One batch: rows [Offset, Offset + Features.Rows) of a data set.</summary>
public sealed record Batch(int Offset, Matrix Features, int[]? Labels);

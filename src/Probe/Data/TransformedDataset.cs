namespace Probe.Data;

/// <summary>
/// A float data set seen through a <see cref="DataTransform"/> (scale, mean/std, and for image-shaped samples gray,
/// resize and crop, on the float path): how in-memory sources (digits, csv, synthetic) take the transform options.
/// </summary>
public sealed class TransformedDataset : IDataset, IDisposable
{
    readonly IDataset _inner;
    readonly SamplePipeline _pipeline;

    /// <summary>Wraps <paramref name="inner"/>, whose values are treated as floats (default scale 1).</summary>
    public TransformedDataset(IDataset inner, DataTransform transform)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _pipeline = new SamplePipeline(transform, byteSource: false, inner.Name);
        SampleShape = _pipeline.OutputShape(inner.SampleShape);
    }

    public string Name => _inner.Name;
    public int Count => _inner.Count;
    public int[] SampleShape { get; }
    public int[]? Labels => _inner.Labels;
    public IReadOnlyList<string>? ClassNames => _inner.ClassNames;
    public int OriginalCount => _inner.OriginalCount;
    public int OriginalRow(int index) => _inner.OriginalRow(index);

    public void ReadBatch(int start, int count, Span<float> destination)
    {
        int inSize = _inner.SampleSize(), outSize = this.SampleSize();
        var buf = new float[(long)Math.Min(count, 256) * inSize];
        for (int done = 0; done < count;)
        {
            int n = Math.Min(256, count - done);
            _inner.ReadBatch(start + done, n, buf.AsSpan(0, n * inSize));
            for (int i = 0; i < n; i++)
                _pipeline.RunFloats(buf.AsSpan(i * inSize, inSize), _inner.SampleShape, destination.Slice((done + i) * outSize, outSize));
            done += n;
        }
    }

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}

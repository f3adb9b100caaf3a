using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>
/// The rows of one layer as the chunked CKA engine reads them: an in-memory <see cref="Matrix"/> (read in place) or
/// a streamed <see cref="IDataset"/> such as a memory-mapped .npy (<see cref="NpyDatasets.OpenNpy"/>), read one chunk
/// of rows at a time into a reused buffer, on all cores, so the whole input is never resident.
/// </summary>
internal abstract class CkaRows : IDisposable
{
    /// <summary>The number of samples.</summary>
    public abstract int Rows { get; }
    /// <summary>The number of values per sample.</summary>
    public abstract int Cols { get; }
    /// <summary>How messages name the layer.</summary>
    public string Name { get; init; } = "the layer";

    /// <summary>
    /// Rows [start, start + count) as a float32 count x Cols tensor view, valid until the next call; never written by
    /// the caller. <paramref name="capacity"/> is the largest count the caller will ask for (buffers are sized once).
    /// </summary>
    public abstract Tensor Chunk(int start, int count, int capacity);

    public abstract void Dispose();

    public static CkaRows Of(Matrix m, string? name = null) => new MatrixRows(m) { Name = name ?? "the layer" };
    public static CkaRows Of(IDataset d, string? name = null) => new DatasetRows(d) { Name = name ?? $"data set '{d.Name}'" };

    private sealed class MatrixRows(Matrix m) : CkaRows
    {
        private Tensor? _all;
        public override int Rows => m.Rows;
        public override int Cols => m.Cols;

        public override Tensor Chunk(int start, int count, int capacity)
        {
            // frombuffer shares the caller's array (no copy; torch.tensor(float[]) copies in TorchSharp 0.107). It outlives
            // the caller's per-chunk dispose scopes, so only Dispose frees it.
            _all ??= frombuffer(m.Data, ScalarType.Float32, (long)m.Rows * m.Cols, 0, false).view(m.Rows, m.Cols).DetachFromDisposeScope();
            return _all.narrow(0, start, count);
        }

        public override void Dispose() { _all?.Dispose(); _all = null; }
    }

    private sealed class DatasetRows(IDataset d) : CkaRows
    {
        private readonly int _cols = d.SampleSize();
        private float[]? _buffer;
        private Tensor? _tensor;
        private int _capacity;
        public override int Rows => d.Count;
        public override int Cols => _cols;

        public override Tensor Chunk(int start, int count, int capacity)
        {
            capacity = Math.Max(capacity, count);
            if (_tensor is null || capacity > _capacity)
            {
                _tensor?.Dispose();
                _capacity = capacity;
                _buffer = GC.AllocateUninitializedArray<float>(checked(capacity * _cols), pinned: true);
                _tensor = frombuffer(_buffer, ScalarType.Float32, (long)capacity * _cols, 0, false).view(capacity, _cols).DetachFromDisposeScope();
            }
            // Disjoint row ranges read concurrently (IDataset allows it): a memory-mapped file is copied on all cores.
            int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, count / 64));
            var buffer = _buffer!;
            Parallel.For(0, parts, k =>
            {
                int a = (int)((long)count * k / parts), b = (int)((long)count * (k + 1) / parts);
                d.ReadBatch(start + a, b - a, buffer.AsSpan(a * _cols, (b - a) * _cols));
            });
            return _tensor!.narrow(0, 0, count);
        }

        public override void Dispose() { _tensor?.Dispose(); _tensor = null; _buffer = null; }
    }
}

using System.Runtime.InteropServices;
using Probe.Data;

namespace Probe.Similarity;

/// <summary>
/// The rows of one layer as the chunked CKA engine reads them: an in-memory <see cref="Matrix"/> (read in place) or
/// a streamed <see cref="IDataset"/> such as a memory-mapped .npy (<see cref="NpyDatasets.OpenNpy"/>), one chunk of
/// rows at a time: float32 rows of a mapped file in place (the chunk mapped, used, unmapped), any other data set copied
/// into a reused buffer on all cores; so the whole input is never resident.
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
    /// The address of rows [start, start + count) as contiguous float32 values (count x Cols), valid until the next
    /// call or Dispose; never written by the caller. <paramref name="capacity"/> is the largest count the caller will
    /// ask for (buffers are sized once).
    /// </summary>
    public abstract unsafe float* Read(int start, int count, int capacity);

    public abstract void Dispose();

    public static CkaRows Of(Matrix m, string? name = null) => new MatrixRows(m) { Name = name ?? "the layer" };
    public static CkaRows Of(IDataset d, string? name = null) => new DatasetRows(d) { Name = name ?? $"data set '{d.Name}'" };

    private sealed class MatrixRows(Matrix m) : CkaRows
    {
        private GCHandle _pin;
        public override int Rows => m.Rows;
        public override int Cols => m.Cols;

        public override unsafe float* Read(int start, int count, int capacity)
        {
            if (!_pin.IsAllocated) _pin = GCHandle.Alloc(m.Data, GCHandleType.Pinned);
            return (float*)_pin.AddrOfPinnedObject() + (long)start * m.Cols;
        }

        public override void Dispose() { if (_pin.IsAllocated) _pin.Free(); }
    }

    private sealed class DatasetRows(IDataset d) : CkaRows
    {
        private readonly int _cols = d.SampleSize();
        private float[]? _buffer;
        public override int Rows => d.Count;
        public override int Cols => _cols;

        private RowView? _view;

        public override unsafe float* Read(int start, int count, int capacity)
        {
            _view?.Dispose();
            _view = null;
            // A memory-mapped float32 .npy is read where it lies: no copy, and no buffer beside the mapped rows.
            if (d is ArrayDataset a && a.MapFloat32(start, count) is { } view)
            {
                _view = view;
                return (float*)view.Address;
            }
            capacity = Math.Max(capacity, count);
            if (_buffer == null || (long)capacity * _cols > _buffer.Length)
                _buffer = GC.AllocateUninitializedArray<float>(checked(capacity * _cols), pinned: true);
            // Disjoint row ranges read concurrently (IDataset allows it): a memory-mapped file is copied on all cores.
            int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, count / 64));
            var buffer = _buffer;
            Parallel.For(0, parts, k =>
            {
                int a = (int)((long)count * k / parts), b = (int)((long)count * (k + 1) / parts);
                d.ReadBatch(start + a, b - a, buffer.AsSpan(a * _cols, (b - a) * _cols));
            });
            return (float*)Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0);
        }

        public override void Dispose()
        {
            _view?.Dispose();
            _view = null;
            _buffer = null;
        }
    }
}

using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace Probe.Data;

/// <summary>Fixed-size raw records (the bytes of one sample each), read by index range; thread-safe.</summary>
internal interface IRawRows : IDisposable
{
    int Count { get; }
    int RowBytes { get; }
    /// <summary>Copies rows [start, start + count) into <paramref name="destination"/> (count × RowBytes bytes).</summary>
    void Read(int start, int count, Span<byte> destination);
}

/// <summary>Rows held in a byte array (small sources such as IDX files).</summary>
internal sealed class MemoryRows(byte[] data, int count, int rowBytes) : IRawRows
{
    public int Count => count;
    public int RowBytes => rowBytes;
    public void Read(int start, int n, Span<byte> destination) =>
        data.AsSpan(checked(start * rowBytes), n * rowBytes).CopyTo(destination);
    public void Dispose() { }
}

/// <summary>
/// Rows of a region of a file, memory-mapped. Each read maps only the rows asked for and unmaps them afterwards: a
/// mapping of the whole file would keep every page touched so far resident (and counted in the process's RSS) until
/// the mapping closes, while a per-read view keeps resident memory near one batch.
/// </summary>
internal sealed class MappedRows : IRawRows
{
    readonly MemoryMappedFile _map;
    readonly long _offset;
    readonly string _path;

    public int Count { get; }
    public int RowBytes { get; }

    /// <summary>Maps <paramref name="path"/> (or the already open <paramref name="stream"/>, which the rows then own).</summary>
    public MappedRows(string path, long offset, int count, int rowBytes, FileStream? stream = null)
    {
        _path = path; _offset = offset; Count = count; RowBytes = rowBytes;
        try
        {
            _map = stream != null
                ? MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false)
                : MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream?.Dispose();
            throw new ProbeException($"Cannot memory-map '{path}': {e.Message}", e);
        }
    }

    public void Read(int start, int n, Span<byte> destination)
    {
        if (n == 0) return;
        using var view = Map(start, n);
        unsafe { new ReadOnlySpan<byte>(view.Address, checked(n * RowBytes)).CopyTo(destination); }
    }

    public override string ToString() => _path;

    /// <summary>
    /// Maps rows [start, start + count) read-only and returns their address, valid until the returned view is disposed:
    /// no copy at all, for callers that read each row where it lies (resident memory still only the rows mapped).
    /// </summary>
    public unsafe RowView Map(int start, int count)
    {
        long len = (long)count * RowBytes;
        var view = _map.CreateViewAccessor(_offset + (long)start * RowBytes, len, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        return new RowView(view, p + view.PointerOffset);
    }

    public void Dispose()
    {
        _map.Dispose();
    }
}

/// <summary>A mapped range of rows (see <see cref="MappedRows.Map"/>); disposing unmaps it.</summary>
internal sealed unsafe class RowView(MemoryMappedViewAccessor view, byte* address) : IDisposable
{
    public byte* Address { get; } = address;

    public void Dispose()
    {
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
    }
}

/// <summary>
/// A streamed data set over fixed-size records: a memory-mapped .npy (or an .npz member), CIFAR batches or IDX bytes.
/// Each batch converts its records from the stored type to float32 (uint8 through the 8-bit image path), transposes
/// channels-last records to channels-first when asked (layout=nhwc), and applies the transform. Only one chunk of
/// records (at most about 4 MB of raw bytes) is held at a time per reading thread.
/// </summary>
public sealed class ArrayDataset : IDataset, IDisposable
{
    const int ChunkBytes = 4 << 20;
    readonly IRawRows _rows;
    readonly NpyDType _dtype;
    readonly int[] _stored;   // one record's shape as stored
    readonly int[] _raw;      // one record's shape channels-first (what the pipeline sees)
    readonly bool _nhwc;
    readonly SamplePipeline _pipeline;
    readonly int _itemSize;
    readonly IDisposable? _extra;

    public string Name { get; }
    public int Count => _rows.Count;
    public int[] SampleShape { get; }
    public int[]? Labels { get; }
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>The element type as stored.</summary>
    public NpyDType StoredType => _dtype;
    /// <summary>The shape of one record as stored (before any layout change or transform).</summary>
    public IReadOnlyList<int> StoredShape => _stored;

    internal ArrayDataset(string name, IRawRows rows, NpyDType dtype, int[] storedShape, bool nhwc, DataTransform transform,
        int[]? labels, IReadOnlyList<string>? classNames, IDisposable? extra = null)
    {
        Name = name; _rows = rows; _dtype = dtype; _stored = storedShape; _nhwc = nhwc; _extra = extra;
        _itemSize = Npy.ItemSize(dtype);
        long per = 1;
        foreach (var d in storedShape) per *= d;
        if (per * _itemSize != rows.RowBytes) throw new InvalidOperationException("Record size does not match the shape.");
        if (nhwc)
        {
            if (storedShape.Length != 3)
                throw new ProbeException($"Data set '{name}': layout=nhwc needs arrays of N x H x W x C, but each sample has shape [{string.Join(", ", storedShape)}].");
            _raw = [storedShape[2], storedShape[0], storedShape[1]];
        }
        else _raw = storedShape;
        _pipeline = new SamplePipeline(transform, dtype == NpyDType.UInt8, name);
        SampleShape = _pipeline.OutputShape(_raw);
        if (labels != null && labels.Length != rows.Count)
            throw new ProbeException($"Data set '{name}' has {rows.Count} samples but {labels.Length} labels; the label file must have one label per sample.");
        if (labels != null)
            for (int i = 0; i < labels.Length; i++)
                if (labels[i] < 0) throw new ProbeException($"Data set '{name}': label {labels[i]} at row {i} is negative; labels must be 0 or greater.");
        Labels = labels;
        ClassNames = classNames;
    }

    /// <summary>
    /// Rows [start, start + count) in place, without a copy, when they are stored exactly as <see cref="ReadBatch"/>
    /// would return them (float32, no layout change, no transform) in a memory-mapped file; else null. Dispose the
    /// view when done with the rows.
    /// </summary>
    internal unsafe RowView? MapFloat32(int start, int count)
    {
        if (_rows is not MappedRows mapped || _dtype != NpyDType.Float32 || _nhwc || !_pipeline.IsIdentity || !BitConverter.IsLittleEndian) return null;
        if (start < 0 || count <= 0 || start > Count - count) return null;
        return mapped.Map(start, count);
    }

    public void ReadBatch(int start, int count, Span<float> destination)
    {
        if (start < 0 || count < 0 || start > Count - count)
            throw new ProbeException($"Rows {start}..{start + count} are outside data set '{Name}' of {Count} samples.");
        int outSize = this.SampleSize();
        if (destination.Length < (long)count * outSize)
            throw new ArgumentException($"Destination holds {destination.Length} floats; {count} samples need {(long)count * outSize}.");
        int rowBytes = _rows.RowBytes;
        int chunkRows = Math.Max(1, ChunkBytes / Math.Max(1, rowBytes));
        int rawValues = rowBytes / _itemSize;
        if (_dtype == NpyDType.Float32 && !_nhwc && _pipeline.IsIdentity && (long)count * rowBytes <= int.MaxValue)
        {
            // Stored as the model receives it: one copy, from the mapped rows straight into the destination.
            var bytes = MemoryMarshal.AsBytes(destination[..(count * outSize)]);
            for (int done = 0; done < count;)
            {
                int n = Math.Min(chunkRows, count - done);
                _rows.Read(start + done, n, bytes.Slice(done * rowBytes, n * rowBytes));
                done += n;
            }
            return;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(checked(Math.Min(chunkRows, Math.Max(count, 1)) * rowBytes));
        float[]? floats = _dtype == NpyDType.UInt8 ? null : ArrayPool<float>.Shared.Rent(rawValues);
        byte[]? planar = _dtype == NpyDType.UInt8 && _nhwc ? ArrayPool<byte>.Shared.Rent(rawValues) : null;
        float[]? floatsPlanar = _dtype != NpyDType.UInt8 && _nhwc ? ArrayPool<float>.Shared.Rent(rawValues) : null;
        try
        {
            for (int done = 0; done < count;)
            {
                int n = Math.Min(chunkRows, count - done);
                var raw = buffer.AsSpan(0, n * rowBytes);
                _rows.Read(start + done, n, raw);
                for (int i = 0; i < n; i++)
                {
                    var rec = raw.Slice(i * rowBytes, rowBytes);
                    var dst = destination.Slice((done + i) * outSize, outSize);
                    if (_dtype == NpyDType.UInt8)
                    {
                        ReadOnlySpan<byte> src = rec;
                        if (_nhwc) { ToPlanar(rec, planar!); src = planar.AsSpan(0, rawValues); }
                        _pipeline.RunBytes(src, _raw, dst);
                    }
                    else if (_dtype == NpyDType.Float32 && !_nhwc && _pipeline.IsIdentity)
                    {
                        MemoryMarshal.Cast<byte, float>(rec).CopyTo(dst);
                    }
                    else
                    {
                        var f = floats.AsSpan(0, rawValues);
                        Convert(rec, f, start + done + i);
                        if (_nhwc) { ToPlanar<float>(f, floatsPlanar!); f = floatsPlanar.AsSpan(0, rawValues); }
                        if (_pipeline.IsIdentity) f.CopyTo(dst);
                        else _pipeline.RunFloats(f, _raw, dst);
                    }
                }
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (floats != null) ArrayPool<float>.Shared.Return(floats);
            if (planar != null) ArrayPool<byte>.Shared.Return(planar);
            if (floatsPlanar != null) ArrayPool<float>.Shared.Return(floatsPlanar);
        }
    }

    /// <summary>H x W x C (interleaved) to C x H x W (planar).</summary>
    void ToPlanar<T>(ReadOnlySpan<T> hwc, Span<T> chw)
    {
        int h = _stored[0], w = _stored[1], c = _stored[2], hw = h * w;
        for (int p = 0; p < hw; p++)
            for (int k = 0; k < c; k++) chw[k * hw + p] = hwc[p * c + k];
    }

    void ToPlanar(ReadOnlySpan<byte> hwc, Span<byte> chw) => ToPlanar<byte>(hwc, chw);

    void Convert(ReadOnlySpan<byte> rec, Span<float> f, int row)
    {
        switch (_dtype)
        {
            case NpyDType.Float32: MemoryMarshal.Cast<byte, float>(rec).CopyTo(f); break;
            case NpyDType.Float64:
                {
                    var d = MemoryMarshal.Cast<byte, double>(rec);
                    for (int i = 0; i < d.Length; i++)
                    {
                        float v = (float)d[i];
                        if (float.IsInfinity(v) && double.IsFinite(d[i]))
                            throw new ProbeException($"Data set '{Name}': float64 value {d[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture)} in sample {row} does not fit in float32.");
                        f[i] = v;
                    }
                    break;
                }
            case NpyDType.Float16: { var s = MemoryMarshal.Cast<byte, Half>(rec); for (int i = 0; i < s.Length; i++) f[i] = (float)s[i]; break; }
            case NpyDType.Int8: { var s = MemoryMarshal.Cast<byte, sbyte>(rec); for (int i = 0; i < s.Length; i++) f[i] = s[i]; break; }
            case NpyDType.Int16: { var s = MemoryMarshal.Cast<byte, short>(rec); for (int i = 0; i < s.Length; i++) f[i] = s[i]; break; }
            case NpyDType.UInt16: { var s = MemoryMarshal.Cast<byte, ushort>(rec); for (int i = 0; i < s.Length; i++) f[i] = s[i]; break; }
            case NpyDType.Int32: { var s = MemoryMarshal.Cast<byte, int>(rec); for (int i = 0; i < s.Length; i++) f[i] = s[i]; break; }
            case NpyDType.Int64: { var s = MemoryMarshal.Cast<byte, long>(rec); for (int i = 0; i < s.Length; i++) f[i] = s[i]; break; }
            case NpyDType.Bool: for (int i = 0; i < rec.Length; i++) f[i] = rec[i] != 0 ? 1f : 0f; break;
            default: throw new InvalidOperationException();
        }
    }

    public void Dispose()
    {
        _rows.Dispose();
        _extra?.Dispose();
    }
}

using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Probe.Data;

/// <summary>The NPY element types Probe reads and writes (all little-endian or single-byte).</summary>
public enum NpyDType
{
    Float32,
    Float64,
    Int32,
    Int64,
    UInt8,
    Bool,
    Int8,
    Int16,
    UInt16,
    Float16,
}

/// <summary>
/// An n-dimensional array read from an .npy file: its element type, its shape (C order) and its values as a typed
/// array (float[], double[], int[], long[], byte[], bool[], sbyte[], short[], ushort[] or Half[] according to <see cref="DType"/>).
/// </summary>
public sealed class NpyArray
{
    public NpyDType DType { get; }
    public int[] Shape { get; }
    public Array Data { get; }

    /// <summary>The number of elements (the product of the shape; 1 for a 0-d array).</summary>
    public long Count => Data.LongLength;

    public NpyArray(NpyDType dtype, int[] shape, Array data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ProbeException($"An array shape cannot have a negative size ({Npy.FormatShape(shape)}).");
            n *= d;
        }
        var expected = Npy.ElementType(dtype);
        if (data.Rank != 1 || data.GetType().GetElementType() != expected)
            throw new ProbeException($"An NPY array of dtype {Npy.Descr(dtype)} needs a {expected.Name}[] but got {data.GetType().Name}.");
        if (n != data.LongLength)
            throw new ProbeException($"Shape {Npy.FormatShape(shape)} holds {n} values but the data has {data.LongLength}.");
        DType = dtype; Shape = shape; Data = data;
    }

    /// <summary>The value at flat index <paramref name="i"/> as double.</summary>
    public double GetDouble(long i) => Data switch
    {
        float[] f => f[i],
        double[] d => d[i],
        int[] n => n[i],
        long[] l => l[i],
        byte[] b => b[i],
        bool[] b => b[i] ? 1 : 0,
        sbyte[] b => b[i],
        short[] s => s[i],
        ushort[] s => s[i],
        Half[] h => (double)h[i],
        _ => throw new InvalidOperationException(),
    };

    public override string ToString() => $"NpyArray {Npy.Descr(DType)} {Npy.FormatShape(Shape)}";
}

/// <summary>
/// Reads and writes NumPy .npy files (format versions 1.0 and 2.0; 3.0 is read too): C order, little-endian
/// float16, float32, float64, int8, int16, int32, int64, uint8, uint16 and bool. Headers are parsed as the Python literal they are and every size is
/// checked against the file's length before anything is allocated.
/// </summary>
public static class Npy
{
    static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The largest header Probe accepts (NumPy itself refuses headers above 10,000 bytes by default).</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>The largest number of elements an array may hold (one .NET array).</summary>
    public static readonly long MaxElements = Array.MaxLength;

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a whole .npy file.</summary>
    public static NpyArray Read(string path)
    {
        using var stream = OpenRead(path);
        return Read(stream, path);
    }

    /// <summary>Reads a whole .npy array from a seekable stream positioned at its first byte; the array must end the stream.</summary>
    internal static NpyArray Read(Stream stream, string path)
    {
        var (dtype, shape, count) = ReadHeader(stream, path);
        long itemSize = ItemSize(dtype);
        long dataBytes = count * itemSize;
        long available = stream.Length - stream.Position;
        if (available < dataBytes)
            throw new ProbeException($"NPY file '{path}' is truncated: its header declares shape {FormatShape(shape)} of {Descr(dtype)} ({dataBytes} bytes of data) but only {available} bytes follow the header.");
        if (available > dataBytes)
            throw new ProbeException($"NPY file '{path}' has {available - dataBytes} unexpected bytes after the {dataBytes} bytes of data its header (shape {FormatShape(shape)}, {Descr(dtype)}) declares; the file may be corrupt.");
        Array data = dtype switch
        {
            NpyDType.Float32 => new float[count],
            NpyDType.Float64 => new double[count],
            NpyDType.Int32 => new int[count],
            NpyDType.Int64 => new long[count],
            NpyDType.UInt8 => new byte[count],
            NpyDType.Bool => new bool[count],
            NpyDType.Int8 => new sbyte[count],
            NpyDType.Int16 => new short[count],
            NpyDType.UInt16 => new ushort[count],
            NpyDType.Float16 => new Half[count],
            _ => throw new InvalidOperationException(),
        };
        EnsureLittleEndianHost();
        try
        {
            switch (data)
            {
                case float[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case double[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case int[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case long[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case byte[] a: stream.ReadExactly(a); break;
                case sbyte[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case short[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case ushort[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case Half[] a: stream.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan())); break;
                case bool[] a:
                    {
                        var raw = new byte[a.Length];
                        stream.ReadExactly(raw);
                        for (int i = 0; i < raw.Length; i++) a[i] = raw[i] != 0;
                        break;
                    }
            }
        }
        catch (EndOfStreamException)
        {
            throw new ProbeException($"NPY file '{path}' is truncated: it ended while reading {dataBytes} bytes of data.");
        }
        return new NpyArray(dtype, shape, data);
    }

    /// <summary>
    /// Reads an array as a float32 matrix: 2-d arrays as they are; a 1-d array of n values as an n x 1 column; a 0-d
    /// array as 1 x 1; arrays of more dimensions as shape[0] rows of the remaining dimensions flattened (C order).
    /// Float64 values outside the float32 range are an error; int64 values lose precision beyond 2^24.
    /// </summary>
    public static Matrix ReadMatrix(string path)
    {
        var array = Read(path);
        // The array read here has no other owner: float32 data becomes the matrix's storage, not a second copy.
        if (array.Data is float[] f)
        {
            var (rows, cols) = MatrixShape(array.Shape);
            return new Matrix(rows, cols, f);
        }
        return ToMatrix(array, path);
    }

    /// <summary>Converts an array to a float32 matrix (see <see cref="ReadMatrix"/> for how shapes map to rows and columns).</summary>
    public static Matrix ToMatrix(NpyArray array, string what = "array")
    {
        var (rows, cols) = MatrixShape(array.Shape);
        var m = new Matrix(rows, cols);
        var dst = m.Data;
        switch (array.Data)
        {
            case float[] f: f.CopyTo(dst, 0); break;
            case double[] d:
                for (long i = 0; i < d.Length; i++)
                {
                    float v = (float)d[i];
                    if (float.IsInfinity(v) && double.IsFinite(d[i]))
                        throw new ProbeException($"NPY '{what}': float64 value {d[i].ToString("R", CultureInfo.InvariantCulture)} at flat index {i} does not fit in float32.");
                    dst[i] = v;
                }
                break;
            case int[] n: for (long i = 0; i < n.Length; i++) dst[i] = n[i]; break;
            case long[] l: for (long i = 0; i < l.Length; i++) dst[i] = l[i]; break;
            case byte[] b: for (long i = 0; i < b.Length; i++) dst[i] = b[i]; break;
            case bool[] b: for (long i = 0; i < b.Length; i++) dst[i] = b[i] ? 1f : 0f; break;
            case sbyte[] b: for (long i = 0; i < b.Length; i++) dst[i] = b[i]; break;
            case short[] b: for (long i = 0; i < b.Length; i++) dst[i] = b[i]; break;
            case ushort[] b: for (long i = 0; i < b.Length; i++) dst[i] = b[i]; break;
            case Half[] b: for (long i = 0; i < b.Length; i++) dst[i] = (float)b[i]; break;
        }
        return m;
    }

    /// <summary>How a shape maps to (rows, cols) for <see cref="ToMatrix"/>.</summary>
    public static (int Rows, int Cols) MatrixShape(int[] shape)
    {
        if (shape.Length == 0) return (1, 1);
        if (shape.Length == 1) return (shape[0], 1);
        long rest = 1;
        for (int i = 1; i < shape.Length; i++) rest *= shape[i];
        if (rest > int.MaxValue) throw new ProbeException($"Shape {FormatShape(shape)} has too many values per row ({rest}).");
        return (shape[0], (int)rest);
    }

    /// <summary>
    /// Reads integer labels (dtype int32, int64 or uint8; shape (n,) or (n, 1)); int64 values must fit in int32.
    /// </summary>
    public static int[] ReadInt32(string path) => ToInt32(Read(path), path);

    /// <summary>Converts an integer array of shape (n,) or (n, 1) to int[] (see <see cref="ReadInt32"/>).</summary>
    public static int[] ToInt32(NpyArray array, string what = "array")
    {
        RequireVector(array, what);
        switch (array.Data)
        {
            case int[] n: return n;
            case byte[] b: return b.Select(x => (int)x).ToArray();
            case sbyte[] b: return b.Select(x => (int)x).ToArray();
            case short[] b: return b.Select(x => (int)x).ToArray();
            case ushort[] b: return b.Select(x => (int)x).ToArray();
            case long[] l:
                var r = new int[l.Length];
                for (int i = 0; i < l.Length; i++)
                {
                    if (l[i] < int.MinValue || l[i] > int.MaxValue)
                        throw new ProbeException($"NPY '{what}': int64 value {l[i]} at index {i} does not fit in int32.");
                    r[i] = (int)l[i];
                }
                return r;
            default:
                throw new ProbeException($"NPY '{what}' has dtype '{Descr(array.DType)}'; integer labels need an integer dtype (int8/16/32/64, uint8/16). Convert with y.astype('int32').");
        }
    }

    /// <summary>Reads a boolean mask (dtype bool, shape (n,) or (n, 1)).</summary>
    public static bool[] ReadBool(string path)
    {
        var a = Read(path);
        RequireVector(a, path);
        if (a.Data is bool[] b) return b;
        throw new ProbeException($"NPY '{path}' has dtype '{Descr(a.DType)}'; a mask needs bool ('|b1'). Convert with m.astype(bool).");
    }

    static void RequireVector(NpyArray a, string what)
    {
        if (a.Shape.Length == 1 || (a.Shape.Length == 2 && a.Shape[1] == 1)) return;
        throw new ProbeException($"NPY '{what}' has shape {FormatShape(a.Shape)}; expected a vector of shape (n,) or (n, 1).");
    }

    static FileStream OpenRead(string path)
    {
        if (!File.Exists(path)) throw new ProbeException($"NPY file '{path}' does not exist.");
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Cannot open NPY file '{path}': {e.Message}", e);
        }
    }

    /// <summary>Reads and validates the magic, version and header; leaves the stream at the first data byte.</summary>
    internal static (NpyDType DType, int[] Shape, long Count) ReadHeader(Stream stream, string path, long maxElements = 0)
    {
        if (maxElements <= 0) maxElements = MaxElements;
        Span<byte> pre = stackalloc byte[8];
        if (stream.ReadAtLeast(pre, 8, throwOnEndOfStream: false) < 8)
            throw new ProbeException($"NPY file '{path}' is too short to be an .npy file (fewer than 8 bytes).");
        if (!pre[..6].SequenceEqual(Magic))
            throw new ProbeException($"'{path}' is not an .npy file: it does not start with the bytes \\x93NUMPY.");
        int major = pre[6], minor = pre[7];
        long headerLen;
        if (major == 1)
        {
            Span<byte> l = stackalloc byte[2];
            if (stream.ReadAtLeast(l, 2, false) < 2) throw new ProbeException($"NPY file '{path}' is truncated inside its header.");
            headerLen = l[0] | (l[1] << 8);
        }
        else if (major is 2 or 3)
        {
            Span<byte> l = stackalloc byte[4];
            if (stream.ReadAtLeast(l, 4, false) < 4) throw new ProbeException($"NPY file '{path}' is truncated inside its header.");
            headerLen = (uint)(l[0] | (l[1] << 8) | (l[2] << 16) | (l[3] << 24));
        }
        else throw new ProbeException($"NPY file '{path}' uses format version {major}.{minor}; Probe reads versions 1.0, 2.0 and 3.0.");
        if (headerLen > MaxHeaderBytes)
            throw new ProbeException($"NPY file '{path}' declares a header of {headerLen} bytes, more than the {MaxHeaderBytes} Probe accepts; the file is probably corrupt.");
        if (stream.CanSeek && headerLen > stream.Length - stream.Position)
            throw new ProbeException($"NPY file '{path}' is truncated: its header should be {headerLen} bytes but the file ends before.");
        var hb = new byte[headerLen];
        if (stream.ReadAtLeast(hb, hb.Length, false) < hb.Length)
            throw new ProbeException($"NPY file '{path}' is truncated: its header should be {headerLen} bytes but the file ends before.");
        string header = major == 3 ? Encoding.UTF8.GetString(hb) : Encoding.Latin1.GetString(hb);
        var (descr, fortran, shapeL) = NpyHeader.Parse(header, path);
        if (fortran)
            throw new ProbeException($"NPY file '{path}' is stored in Fortran (column-major) order; Probe reads C order only. Save it with np.save(path, np.ascontiguousarray(a)).");
        var dtype = ParseDescr(descr, path);
        var shape = new int[shapeL.Length];
        for (int i = 0; i < shapeL.Length; i++)
        {
            long d = shapeL[i];
            if (d < 0) throw new ProbeException($"NPY file '{path}' declares a negative dimension in shape {FormatShape(shapeL)}.");
            if (d > int.MaxValue) throw new ProbeException($"NPY file '{path}' declares dimension {d} in shape {FormatShape(shapeL)}, more than Probe supports.");
            shape[i] = (int)d;
        }
        long count = 1;
        if (shapeL.Contains(0)) count = 0;
        else
            foreach (var d in shapeL)
            {
                if (count > maxElements / d)
                    throw new ProbeException($"NPY file '{path}' declares shape {FormatShape(shapeL)}, more than the {maxElements} elements Probe can hold in one array; the file is probably corrupt.");
                count *= d;
            }
        return (dtype, shape, count);
    }

    /// <summary>Maps a NumPy dtype string to <see cref="NpyDType"/>; other types and big-endian data are errors naming the dtype.</summary>
    public static NpyDType ParseDescr(string descr, string path = "array") => descr switch
    {
        "<f4" => NpyDType.Float32,
        "<f8" => NpyDType.Float64,
        "<i4" => NpyDType.Int32,
        "<i8" => NpyDType.Int64,
        "|u1" or "<u1" or "u1" => NpyDType.UInt8,
        "|b1" or "<b1" or "b1" => NpyDType.Bool,
        "|i1" or "<i1" or "i1" => NpyDType.Int8,
        "<i2" => NpyDType.Int16,
        "<u2" => NpyDType.UInt16,
        "<f2" => NpyDType.Float16,
        _ when descr.StartsWith('>') =>
            throw new ProbeException($"NPY '{path}' has big-endian dtype '{descr}'; Probe reads little-endian data only. Convert with a.astype(a.dtype.newbyteorder('<')).")
        ,
        _ => throw new ProbeException($"NPY '{path}' has dtype '{descr}', which Probe does not read; supported: float16 '<f2', float32 '<f4', float64 '<f8', int8 '|i1', int16 '<i2', int32 '<i4', int64 '<i8', uint8 '|u1', uint16 '<u2', bool '|b1'."),
    };

    /// <summary>The NumPy dtype string of a type ('&lt;f4' and so on).</summary>
    public static string Descr(NpyDType t) => t switch
    {
        NpyDType.Float32 => "<f4",
        NpyDType.Float64 => "<f8",
        NpyDType.Int32 => "<i4",
        NpyDType.Int64 => "<i8",
        NpyDType.UInt8 => "|u1",
        NpyDType.Bool => "|b1",
        NpyDType.Int8 => "|i1",
        NpyDType.Int16 => "<i2",
        NpyDType.UInt16 => "<u2",
        NpyDType.Float16 => "<f2",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    internal static int ItemSize(NpyDType t) => t switch
    {
        NpyDType.Float32 or NpyDType.Int32 => 4,
        NpyDType.Float64 or NpyDType.Int64 => 8,
        NpyDType.Int16 or NpyDType.UInt16 or NpyDType.Float16 => 2,
        _ => 1,
    };

    internal static Type ElementType(NpyDType t) => t switch
    {
        NpyDType.Float32 => typeof(float),
        NpyDType.Float64 => typeof(double),
        NpyDType.Int32 => typeof(int),
        NpyDType.Int64 => typeof(long),
        NpyDType.UInt8 => typeof(byte),
        NpyDType.Bool => typeof(bool),
        NpyDType.Int8 => typeof(sbyte),
        NpyDType.Int16 => typeof(short),
        NpyDType.UInt16 => typeof(ushort),
        NpyDType.Float16 => typeof(Half),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>A shape as Python writes a tuple: (), (n,), (a, b).</summary>
    public static string FormatShape(IReadOnlyList<int> shape) => FormatShape(shape.Select(d => (long)d).ToArray());

    internal static string FormatShape(IReadOnlyList<long> shape) => shape.Count switch
    {
        0 => "()",
        1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
        _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
    };

    static void EnsureLittleEndianHost()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Probe's NPY reader and writer need a little-endian machine.");
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes an array (format 1.0, or 2.0 when the header needs more than 65,535 bytes).</summary>
    public static void Write(string path, NpyArray array)
    {
        EnsureLittleEndianHost();
        using var fs = CreateFile(path);
        var header = BuildHeader(Descr(array.DType), FormatShape(array.Shape), 0);
        fs.Write(header);
        switch (array.Data)
        {
            case float[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case double[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case int[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case long[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case byte[] a: fs.Write(a); break;
            case sbyte[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case short[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case ushort[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case Half[] a: fs.Write(MemoryMarshal.AsBytes(a.AsSpan())); break;
            case bool[] a: fs.Write(a.Select(b => b ? (byte)1 : (byte)0).ToArray()); break;
        }
    }

    /// <summary>Writes a matrix as a float32 array of shape (rows, cols).</summary>
    public static void Write(string path, Matrix m) => Write(path, new NpyArray(NpyDType.Float32, [m.Rows, m.Cols], m.Data));

    /// <summary>Writes int32 values as a 1-d array.</summary>
    public static void Write(string path, int[] values) => Write(path, new NpyArray(NpyDType.Int32, [values.Length], values));

    /// <summary>Writes booleans as a 1-d bool array.</summary>
    public static void Write(string path, bool[] values) => Write(path, new NpyArray(NpyDType.Bool, [values.Length], values));

    internal static FileStream CreateFile(string path)
    {
        try
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            return new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Cannot write NPY file '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// The magic, version, length and dict, padded with spaces and ending in '\n' so the whole prelude is a multiple
    /// of 64 bytes; <paramref name="reserve"/> extra spaces leave room to rewrite the shape later. Returns version 1.0
    /// unless the header is too long for it.
    /// </summary>
    internal static byte[] BuildHeader(string descr, string shape, int reserve, int totalLength = 0)
    {
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int major = 1, pre = 10;
        int total = totalLength > 0 ? totalLength : RoundUp(pre + dict.Length + reserve + 1, 64);
        if (total - pre > ushort.MaxValue) { major = 2; pre = 12; total = totalLength > 0 ? totalLength : RoundUp(pre + dict.Length + reserve + 1, 64); }
        int hlen = total - pre;
        if (dict.Length + 1 > hlen) throw new InvalidOperationException("NPY header does not fit its reserved space.");
        var bytes = new byte[total];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)major; bytes[7] = 0;
        if (major == 1) { bytes[8] = (byte)hlen; bytes[9] = (byte)(hlen >> 8); }
        else { bytes[8] = (byte)hlen; bytes[9] = (byte)(hlen >> 8); bytes[10] = (byte)(hlen >> 16); bytes[11] = (byte)(hlen >> 24); }
        var text = dict.PadRight(hlen - 1) + "\n";
        Encoding.Latin1.GetBytes(text, 0, text.Length, bytes, pre);
        return bytes;
    }

    static int RoundUp(int n, int m) => (n + m - 1) / m * m;
}

/// <summary>
/// Writes a float32 (rows, cols) .npy file batch by batch: the header is written with room to spare and rewritten
/// with the final row count when the writer is disposed (or <see cref="Complete"/> is called).
/// </summary>
public sealed class NpyMatrixWriter : IDisposable
{
    const int Reserve = 48; // room for two 20-digit dimensions
    readonly FileStream _stream;
    readonly int _headerLength;
    bool _done;

    /// <summary>The file being written.</summary>
    public string Path { get; }
    /// <summary>Rows written so far.</summary>
    public long Rows { get; private set; }
    /// <summary>The number of columns, fixed by the constructor or by the first batch.</summary>
    public int? Cols { get; private set; }

    /// <summary>Creates (or overwrites) <paramref name="path"/>; <paramref name="cols"/> may be left null to take it from the first batch.</summary>
    public NpyMatrixWriter(string path, int? cols = null)
    {
        if (cols is < 0) throw new ProbeException($"NPY writer for '{path}': column count cannot be negative ({cols}).");
        Path = path;
        Cols = cols;
        _stream = Npy.CreateFile(path);
        var header = Npy.BuildHeader("<f4", "(0, 0)", Reserve);
        _headerLength = header.Length;
        _stream.Write(header);
    }

    /// <summary>Appends the rows of <paramref name="batch"/>.</summary>
    public void Write(Matrix batch) => Write(batch.Data, batch.Cols);

    /// <summary>Appends rows given as a flat row-major span of <paramref name="cols"/>-wide rows.</summary>
    public void Write(ReadOnlySpan<float> values, int cols)
    {
        ObjectDisposedException.ThrowIf(_done, this);
        Cols ??= cols;
        if (cols != Cols)
            throw new ProbeException($"NPY writer for '{Path}': a batch has {cols} columns but earlier rows have {Cols}.");
        if (cols == 0) { if (values.Length != 0) throw new ProbeException("A batch with 0 columns cannot hold values."); return; }
        if (values.Length % cols != 0)
            throw new ProbeException($"NPY writer for '{Path}': {values.Length} values are not a whole number of {cols}-column rows.");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Probe's NPY writer needs a little-endian machine.");
        _stream.Write(MemoryMarshal.AsBytes(values));
        Rows += values.Length / cols;
        if (Rows > int.MaxValue) throw new ProbeException($"NPY writer for '{Path}': more than {int.MaxValue} rows.");
    }

    /// <summary>Rewrites the header with the final shape and closes the file.</summary>
    public void Complete()
    {
        if (_done) return;
        _done = true;
        try
        {
            var header = Npy.BuildHeader("<f4", Npy.FormatShape(new long[] { Rows, Cols ?? 0 }), 0, _headerLength);
            _stream.Seek(0, SeekOrigin.Begin);
            _stream.Write(header);
            _stream.Flush();
        }
        finally { _stream.Dispose(); }
    }

    /// <summary>
    /// Closes the file without its final shape and deletes it: what a writer whose rows are incomplete (a cancelled or
    /// failed capture) leaves, rather than a well-formed file of fewer rows.
    /// </summary>
    public void Abandon()
    {
        if (_done) return;
        _done = true;
        _stream.Dispose();
        File.Delete(Path);
    }

    public void Dispose() => Complete();
}

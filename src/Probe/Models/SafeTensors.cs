using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Probe.Models;

/// <summary>
/// Element types of safetensors files that Probe reads and writes: every type PyTorch state dicts hold in practice
/// (floats, integer counters such as BatchNorm's I64 <c>num_batches_tracked</c>, bytes and booleans).
/// </summary>
public enum SafeTensorsDType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL }

/// <summary>A named tensor in its stored element type: little-endian bytes, as in a safetensors file.</summary>
public sealed record RawTensor(string Name, SafeTensorsDType DType, long[] Shape, byte[] Data)
{
    /// <summary>The shape as text, for messages: [128, 64].</summary>
    public string ShapeText => SafeTensors.ShapeText(Shape);
}

/// <summary>A named float32 array with its shape, as stored in (or read from) a safetensors file.</summary>
public sealed record NamedArray(string Name, long[] Shape, float[] Data)
{
    /// <summary>The shape as text, for messages: [128, 64].</summary>
    public string ShapeText => SafeTensors.ShapeText(Shape);
}

/// <summary>One entry of a safetensors header: where a tensor's bytes are, relative to the end of the header.</summary>
public sealed record SafeTensorsEntry(string Name, SafeTensorsDType DType, long[] Shape, long Begin, long End);

/// <summary>A parsed and validated safetensors header.</summary>
public sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

/// <summary>
/// Reader and writer of the safetensors format: an 8-byte little-endian header length, a UTF-8 JSON header
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}</c>, then the raw
/// little-endian tensor bytes. Every length and offset is checked against the file size before anything is
/// allocated from it.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the reference implementation's limit is 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Reads and validates the header of <paramref name="path"/> without reading tensor data.</summary>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var fs = Open(path);
        return ReadHeader(fs, path);
    }

    /// <summary>Reads every tensor of <paramref name="path"/> as float32, in file order of their data.</summary>
    public static (IReadOnlyList<NamedArray> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path)
    {
        var (raw, metadata) = ReadRaw(path);
        return (raw.Select(r => new NamedArray(r.Name, r.Shape, ToFloats(r))).ToArray(), metadata);
    }

    /// <summary>Reads every tensor of <paramref name="path"/> in its stored element type, in file order of their data.</summary>
    public static (IReadOnlyList<RawTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) ReadRaw(string path)
    {
        using var fs = Open(path);
        var header = ReadHeader(fs, path);
        var result = new List<RawTensor>(header.Entries.Count);
        foreach (var e in header.Entries.OrderBy(e => e.Begin).ThenBy(e => e.Name, StringComparer.Ordinal))
        {
            var bytes = new byte[checked((int)(e.End - e.Begin))];
            fs.Position = header.DataStart + e.Begin;
            fs.ReadExactly(bytes);
            result.Add(new RawTensor(e.Name, e.DType, e.Shape, bytes));
        }
        return (result, header.Metadata);
    }

    /// <summary>The values of <paramref name="t"/> converted to float32 (booleans as 0 and 1).</summary>
    public static float[] ToFloats(RawTensor t) => Decode(t.Data, t.DType);

    /// <summary>
    /// Writes <paramref name="tensors"/> in the given order, each stored as <paramref name="dtype"/> (default F32),
    /// with optional string metadata. Output is byte-for-byte deterministic for the same input.
    /// </summary>
    public static void Write(string path, IEnumerable<NamedArray> tensors, IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        var list = new List<RawTensor>();
        foreach (var t in tensors)
        {
            if (Numel(t.Shape) != t.Data.Length)
                throw new ProbeException($"Tensor '{t.Name}' of shape {t.ShapeText} needs {Numel(t.Shape)} values, got {t.Data.Length}.");
            list.Add(new RawTensor(t.Name, dtype, t.Shape, Encode(t.Data, dtype)));
        }
        WriteRaw(path, list, metadata);
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> in the given order, each in its own element type, with optional string
    /// metadata. Output is byte-for-byte deterministic for the same input.
    /// </summary>
    public static void WriteRaw(string path, IEnumerable<RawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (string.IsNullOrEmpty(t.Name) || t.Name == "__metadata__")
                throw new ProbeException($"Cannot write a safetensors tensor named '{t.Name}'.");
            if (!seen.Add(t.Name)) throw new ProbeException($"Cannot write two safetensors tensors named '{t.Name}'.");
            if (Numel(t.Shape) * ElementSize(t.DType) != t.Data.Length)
                throw new ProbeException($"Tensor '{t.Name}' of shape {t.ShapeText} and type {t.DType} needs {Numel(t.Shape) * ElementSize(t.DType)} bytes, got {t.Data.Length}.");
        }
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(k => k.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in list)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.ToString());
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += t.Data.Length;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        int headerLen = (int)ms.Length;
        int padded = (headerLen + 7) / 8 * 8;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        fs.Write(len);
        fs.Write(ms.GetBuffer(), 0, headerLen);
        for (int i = headerLen; i < padded; i++) fs.WriteByte((byte)' ');
        foreach (var t in list) fs.Write(t.Data);
    }

    static FileStream Open(string path)
    {
        if (!File.Exists(path)) throw new ProbeException($"Weights file '{path}' does not exist.");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
    }

    static SafeTensorsHeader ReadHeader(FileStream fs, string path)
    {
        long fileLen = fs.Length;
        if (fileLen < 8)
            throw new ProbeException($"'{path}' is not a safetensors file: it has {fileLen} bytes, fewer than the 8-byte header length.");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > (ulong)(fileLen - 8))
            throw new ProbeException($"'{path}' is truncated or not a safetensors file: its header claims {n} bytes but only {fileLen - 8} follow.");
        if (n > MaxHeaderBytes)
            throw new ProbeException($"'{path}': safetensors header of {n} bytes exceeds the {MaxHeaderBytes}-byte limit.");
        if (n < 2) throw new ProbeException($"'{path}': safetensors header of {n} bytes is too short to hold a JSON object.");
        var headerBytes = new byte[(int)n];
        fs.ReadExactly(headerBytes);
        long dataStart = 8 + (long)n, dataLen = fileLen - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes.AsMemory().TrimEnd((byte)' ')); }
        catch (JsonException e) { throw new ProbeException($"'{path}': safetensors header is not valid JSON ({e.Message}).", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new ProbeException($"'{path}': safetensors header must be a JSON object.");
            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new ProbeException($"'{path}': safetensors __metadata__ must be an object of strings.");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                entries.Add(ParseEntry(prop, path, dataLen));
            }
            // Tensors must not overlap.
            var sorted = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Begin < sorted[i - 1].End)
                    throw new ProbeException($"'{path}': safetensors tensors '{sorted[i - 1].Name}' and '{sorted[i].Name}' overlap (bytes {sorted[i - 1].Begin}-{sorted[i - 1].End} and {sorted[i].Begin}-{sorted[i].End}).");
            return new SafeTensorsHeader(entries, metadata, dataStart);
        }
    }

    static SafeTensorsEntry ParseEntry(JsonProperty prop, string path, long dataLen)
    {
        string where = $"'{path}': tensor '{prop.Name}'";
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new ProbeException($"{where} must be described by a JSON object.");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ProbeException($"{where} has no dtype.");
        string dtName = dt.GetString() ?? "";
        var dtype = Enum.GetValues<SafeTensorsDType>().FirstOrDefault(d => d.ToString() == dtName, (SafeTensorsDType)(-1));
        if ((int)dtype < 0)
            throw new ProbeException($"{where} has dtype {dtName}; Probe reads {string.Join(", ", Enum.GetNames<SafeTensorsDType>())}.");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ProbeException($"{where} has no shape array.");
        var shape = new List<long>();
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long x) || x < 0)
                throw new ProbeException($"{where} has an invalid shape {sh.GetRawText()}.");
            shape.Add(x);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ProbeException($"{where} has no data_offsets [begin, end].");
        long begin = -1, end = -1;
        if (off[0].ValueKind == JsonValueKind.Number) off[0].TryGetInt64(out begin);
        if (off[1].ValueKind == JsonValueKind.Number) off[1].TryGetInt64(out end);
        if (begin < 0 || end < begin)
            throw new ProbeException($"{where} has invalid data_offsets {off.GetRawText()}.");
        if (end > dataLen)
            throw new ProbeException($"{where}: data_offsets {off.GetRawText()} run past the end of the data ({dataLen} bytes); the file is truncated or corrupt.");
        long numel;
        try { numel = Numel(shape.ToArray()); }
        catch (OverflowException) { throw new ProbeException($"{where} has an impossibly large shape {sh.GetRawText()}."); }
        int size = ElementSize(dtype);
        if (numel > (end - begin) / size || numel * size != end - begin)
            throw new ProbeException($"{where}: shape {ShapeText(shape)} of {dtype} needs {(decimal)numel * size} bytes but data_offsets {off.GetRawText()} span {end - begin}.");
        if (numel > Array.MaxLength)
            throw new ProbeException($"{where} has {numel} values, more than one array can hold.");
        return new SafeTensorsEntry(prop.Name, dtype, shape.ToArray(), begin, end);
    }

    static float[] Decode(byte[] b, SafeTensorsDType dtype)
    {
        int size = ElementSize(dtype);
        var r = new float[b.Length / size];
        switch (dtype)
        {
            case SafeTensorsDType.F32:
                for (int i = 0; i < r.Length; i++) r[i] = BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(i * 4));
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < r.Length; i++) r[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(b.AsSpan(i * 2));
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < r.Length; i++)
                    r[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(i * 2)) << 16);
                break;
            case SafeTensorsDType.F64:
                for (int i = 0; i < r.Length; i++) r[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(i * 8));
                break;
            case SafeTensorsDType.I64:
                for (int i = 0; i < r.Length; i++) r[i] = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(i * 8));
                break;
            case SafeTensorsDType.I32:
                for (int i = 0; i < r.Length; i++) r[i] = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(i * 4));
                break;
            case SafeTensorsDType.I16:
                for (int i = 0; i < r.Length; i++) r[i] = BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(i * 2));
                break;
            case SafeTensorsDType.I8:
                for (int i = 0; i < r.Length; i++) r[i] = (sbyte)b[i];
                break;
            case SafeTensorsDType.U8:
                for (int i = 0; i < r.Length; i++) r[i] = b[i];
                break;
            case SafeTensorsDType.BOOL:
                for (int i = 0; i < r.Length; i++) r[i] = b[i] != 0 ? 1f : 0f;
                break;
        }
        return r;
    }

    static byte[] Encode(float[] data, SafeTensorsDType dtype)
    {
        var b = new byte[checked(data.Length * ElementSize(dtype))];
        switch (dtype)
        {
            case SafeTensorsDType.F32:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(i * 4), data[i]);
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(b.AsSpan(i * 2), (Half)data[i]);
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(i * 2), ToBFloat16(data[i]));
                break;
            case SafeTensorsDType.F64:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(i * 8), data[i]);
                break;
            case SafeTensorsDType.I64:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(i * 8), checked((long)Math.Round(data[i])));
                break;
            case SafeTensorsDType.I32:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(i * 4), checked((int)Math.Round(data[i])));
                break;
            case SafeTensorsDType.I16:
                for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(i * 2), checked((short)Math.Round(data[i])));
                break;
            case SafeTensorsDType.I8:
                for (int i = 0; i < data.Length; i++) b[i] = unchecked((byte)checked((sbyte)Math.Round(data[i])));
                break;
            case SafeTensorsDType.U8:
                for (int i = 0; i < data.Length; i++) b[i] = checked((byte)Math.Round(data[i]));
                break;
            case SafeTensorsDType.BOOL:
                for (int i = 0; i < data.Length; i++) b[i] = data[i] != 0 ? (byte)1 : (byte)0;
                break;
        }
        return b;
    }

    /// <summary>float32 to bfloat16 bits, rounding to nearest even (NaN stays NaN).</summary>
    internal static ushort ToBFloat16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Bytes per element of <paramref name="d"/>.</summary>
    public static int ElementSize(SafeTensorsDType d) => d switch
    {
        SafeTensorsDType.F32 or SafeTensorsDType.I32 => 4,
        SafeTensorsDType.F64 or SafeTensorsDType.I64 => 8,
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 or SafeTensorsDType.I16 => 2,
        _ => 1,
    };

    internal static long Numel(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n = checked(n * d);
        return n;
    }

    internal static string ShapeText(IEnumerable<long> shape) =>
        "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
}

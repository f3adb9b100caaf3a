using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Probe.Data;

/// <summary>How a stored image array orders its axes.</summary>
public enum ArrayLayout
{
    /// <summary>Not stated: samples are used as stored (channels first if image-shaped).</summary>
    AsStored,
    /// <summary>N x C x H x W, stated explicitly.</summary>
    Nchw,
    /// <summary>N x H x W x C: transposed to channels first per batch.</summary>
    Nhwc,
}

/// <summary>
/// Streams arrays from .npy and .npz files as data sets: <c>npy:X.npy[,y.npy]</c> and <c>npz:FILE?x=KEY&amp;y=KEY</c>.
/// </summary>
/// <remarks>
/// <para>An .npy file is memory-mapped and each batch maps only its rows (see <see cref="MappedRows"/>): a file of
/// any size is read with about one batch resident. The first axis is the sample axis; a 1-d array is one value per
/// sample. Supported dtypes: uint8 (8-bit path, default scale 1/255), int8/16/32/64, uint16, float16/32/64 and bool,
/// converted to float32 per batch. Labels (y) are read whole: any integer dtype, shape (n,) or (n, 1).</para>
/// <para>An .npz file is a zip of .npy members. A stored member (<c>np.savez</c>) is memory-mapped in place. A
/// deflated member (<c>np.savez_compressed</c>) cannot be read at an offset, so it is decompressed once, when the data
/// set is opened, into a temporary file (deleted when the data set is disposed) that is then memory-mapped; memory
/// stays bounded, the cost is one pass over the data and its size on the temporary disk. Key <c>x=auto</c> means
/// the member named x, else arr_0, else the only member; <c>y=auto</c> means y, labels or targets (arr_1 when x is
/// arr_0) if present, else no labels; <c>y=none</c> means no labels. Zip64 archives are read; encrypted ones are not,
/// and CRCs are not checked.</para>
/// </remarks>
public static class NpyDatasets
{
    /// <summary>Opens <paramref name="xPath"/> memory-mapped, with labels from <paramref name="yPath"/> when given.</summary>
    public static ArrayDataset OpenNpy(string xPath, string? yPath = null, DataTransform? transform = null, ArrayLayout layout = ArrayLayout.AsStored)
    {
        if (!File.Exists(xPath)) throw new ProbeException($"NPY file '{xPath}' does not exist.");
        long dataOffset, fileLength;
        NpyDType dtype;
        int[] shape;
        using (var fs = OpenRead(xPath))
        {
            fileLength = fs.Length;
            (dtype, shape, _) = Npy.ReadHeader(fs, xPath, long.MaxValue);
            dataOffset = fs.Position;
        }
        var (count, sample, rowBytes) = Records(xPath, dtype, shape, fileLength - dataOffset);
        int[]? labels = null;
        if (yPath != null)
        {
            labels = Npy.ReadInt32(yPath);
            if (labels.Length != count)
                throw new ProbeException($"NPY features '{xPath}' have {count} samples but labels '{yPath}' have {labels.Length}; the label file must have one label per sample.");
        }
        var rows = new MappedRows(xPath, dataOffset, count, rowBytes);
        try { return new ArrayDataset(Path.GetFileNameWithoutExtension(xPath), rows, dtype, sample, layout == ArrayLayout.Nhwc, transform ?? DataTransform.None, labels, null); }
        catch { rows.Dispose(); throw; }
    }

    /// <summary>Splits an array's shape into (samples, shape of one sample, bytes per sample) and checks the data length.</summary>
    static (int Count, int[] Sample, int RowBytes) Records(string what, NpyDType dtype, int[] shape, long available)
    {
        if (shape.Length == 0) throw new ProbeException($"NPY '{what}' holds a single number, not samples.");
        int count = shape[0];
        if (count == 0) throw new ProbeException($"NPY '{what}' holds no samples (shape {Npy.FormatShape(shape)}).");
        int[] sample = shape.Length == 1 ? [1] : shape[1..];
        long per = Npy.ItemSize(dtype);
        foreach (var d in sample) per *= d;
        if (per == 0) throw new ProbeException($"NPY '{what}' has samples of no values (shape {Npy.FormatShape(shape)}).");
        if (per > int.MaxValue / 2) throw new ProbeException($"NPY '{what}': one sample of shape {Npy.FormatShape(shape)} is {per} bytes, too large.");
        long need = per * count;
        if (available < need)
            throw new ProbeException($"NPY '{what}' is truncated: its header declares shape {Npy.FormatShape(shape)} of {Npy.Descr(dtype)} ({need} bytes of data) but only {available} bytes follow the header.");
        if (available > need)
            throw new ProbeException($"NPY '{what}' has {available - need} unexpected bytes after the {need} bytes of data its header (shape {Npy.FormatShape(shape)}, {Npy.Descr(dtype)}) declares; the file may be corrupt.");
        return (count, sample, (int)per);
    }

    static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Cannot open '{path}': {e.Message}", e);
        }
    }

    // ------------------------------------------------------------------ npz

    /// <summary>One member of a zip archive.</summary>
    public sealed record ZipMember(string Name, int Method, long CompressedSize, long Size, long DataOffset);

    /// <summary>The keys of an .npz file (member names without ".npy"), in archive order.</summary>
    public static IReadOnlyList<string> NpzKeys(string path) => ListZip(path).Select(m => Key(m.Name)).ToList();

    static string Key(string member) => member.EndsWith(".npy", StringComparison.Ordinal) ? member[..^4] : member;

    /// <summary>Opens the arrays <paramref name="x"/> (samples) and <paramref name="y"/> (labels) of an .npz file; see the class remarks for auto and none.</summary>
    public static ArrayDataset OpenNpz(string path, string x = "auto", string y = "auto", DataTransform? transform = null, ArrayLayout layout = ArrayLayout.AsStored)
    {
        if (!File.Exists(path)) throw new ProbeException($"NPZ file '{path}' does not exist.");
        var members = ListZip(path);
        var byKey = new Dictionary<string, ZipMember>(StringComparer.Ordinal);
        foreach (var m in members) byKey.TryAdd(Key(m.Name), m);
        string keys = members.Count == 0 ? "none (the archive is empty)" : string.Join(", ", members.Select(m => Key(m.Name)));
        string xKey = x;
        if (x == "auto")
        {
            xKey = byKey.ContainsKey("x") ? "x" : byKey.ContainsKey("arr_0") ? "arr_0" : members.Count == 1 ? Key(members[0].Name)
                : throw new ProbeException($"NPZ file '{path}' has no array named x or arr_0; say which holds the samples with x=KEY. Its keys: {keys}.");
        }
        if (!byKey.TryGetValue(xKey, out var xm))
            throw new ProbeException($"NPZ file '{path}' has no array '{xKey}'; its keys: {keys}.");
        string? yKey = y switch
        {
            "none" => null,
            "auto" => new[] { "y", "labels", "targets" }.FirstOrDefault(byKey.ContainsKey) ?? (xKey == "arr_0" && byKey.ContainsKey("arr_1") ? "arr_1" : null),
            _ => y,
        };
        if (yKey == xKey) throw new ProbeException($"NPZ file '{path}': x and y both name the array '{xKey}'.");
        int[]? labels = null;
        if (yKey != null)
        {
            if (!byKey.TryGetValue(yKey, out var ym))
                throw new ProbeException($"NPZ file '{path}' has no array '{yKey}'; its keys: {keys}.");
            var bytes = ReadMember(path, ym);
            labels = Npy.ToInt32(Npy.Read(new MemoryStream(bytes), $"{path}:{yKey}"), $"{path}:{yKey}");
        }
        string what = $"{path}:{xKey}";
        FileStream? temp = null;
        try
        {
            FileStream source;
            long start;
            if (xm.Method == 0)
            {
                source = OpenRead(path);
                source.Position = xm.DataOffset;
                start = xm.DataOffset;
            }
            else
            {
                temp = Inflate(path, xm);
                source = temp;
                start = 0;
            }
            NpyDType dtype; int[] shape; long dataOffset;
            using (source == temp ? null : source)
            {
                (dtype, shape, _) = Npy.ReadHeader(source, what, long.MaxValue);
                dataOffset = source.Position;
            }
            long memberEnd = start + (xm.Method == 0 ? xm.Size : temp!.Length);
            var (count, sample, rowBytes) = Records(what, dtype, shape, memberEnd - dataOffset);
            if (labels != null && labels.Length != count)
                throw new ProbeException($"NPZ file '{path}': '{xKey}' has {count} samples but '{yKey}' has {labels.Length} labels; there must be one label per sample.");
            var rows = new MappedRows(xm.Method == 0 ? path : what, dataOffset, count, rowBytes, temp);
            temp = null; // owned by the rows now
            try { return new ArrayDataset(Path.GetFileNameWithoutExtension(path), rows, dtype, sample, layout == ArrayLayout.Nhwc, transform ?? DataTransform.None, labels, null); }
            catch { rows.Dispose(); throw; }
        }
        finally { temp?.Dispose(); }
    }

    /// <summary>Decompresses a deflated member into a temporary file deleted when closed.</summary>
    static FileStream Inflate(string path, ZipMember m)
    {
        if (m.Method != 8)
            throw new ProbeException($"NPZ file '{path}': member '{m.Name}' uses zip compression method {m.Method}; Probe reads stored (0) and deflated (8) members. Re-save with np.savez or np.savez_compressed.");
        string tempPath = Path.Combine(Path.GetTempPath(), $"probe-npz-{Guid.NewGuid():N}.npy");
        var temp = new FileStream(tempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            using var fs = OpenRead(path);
            fs.Position = m.DataOffset;
            using var inflate = new DeflateStream(fs, CompressionMode.Decompress);
            var buf = new byte[1 << 20];
            long total = 0;
            int n;
            while ((n = inflate.Read(buf, 0, buf.Length)) > 0)
            {
                total += n;
                if (total > m.Size) break;
                temp.Write(buf, 0, n);
            }
            if (total != m.Size)
                throw new ProbeException($"NPZ file '{path}': member '{m.Name}' should decompress to {m.Size} bytes but gave {(total > m.Size ? "more" : total.ToString(System.Globalization.CultureInfo.InvariantCulture))}; the archive is corrupt or truncated.");
            temp.Flush();
            temp.Position = 0;
            return temp;
        }
        catch (InvalidDataException e)
        {
            temp.Dispose();
            throw new ProbeException($"NPZ file '{path}': member '{m.Name}' cannot be decompressed ({e.Message}); the archive is corrupt or truncated.", e);
        }
        catch
        {
            temp.Dispose();
            throw;
        }
    }

    /// <summary>The bytes of a (small) member, decompressed.</summary>
    static byte[] ReadMember(string path, ZipMember m)
    {
        if (m.Size > int.MaxValue / 2) throw new ProbeException($"NPZ file '{path}': member '{m.Name}' is {m.Size} bytes, too large for labels.");
        using var fs = OpenRead(path);
        fs.Position = m.DataOffset;
        var bytes = new byte[m.Size];
        try
        {
            if (m.Method == 0) fs.ReadExactly(bytes);
            else if (m.Method == 8)
            {
                using var inflate = new DeflateStream(fs, CompressionMode.Decompress);
                inflate.ReadExactly(bytes);
            }
            else throw new ProbeException($"NPZ file '{path}': member '{m.Name}' uses zip compression method {m.Method}; Probe reads stored (0) and deflated (8) members.");
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            throw new ProbeException($"NPZ file '{path}': member '{m.Name}' is truncated or corrupt ({e.Message}).", e);
        }
        return bytes;
    }

    /// <summary>Reads a zip archive's central directory (zip64 included).</summary>
    public static IReadOnlyList<ZipMember> ListZip(string path)
    {
        using var fs = OpenRead(path);
        long len = fs.Length;
        string Bad(string why) => $"'{path}' is not a readable .npz (zip) file: {why}.";
        if (len < 22) throw new ProbeException(Bad("it is too short"));
        int tailLen = (int)Math.Min(len, 22 + 65535);
        var tail = new byte[tailLen];
        fs.Position = len - tailLen;
        fs.ReadExactly(tail);
        int eocd = -1;
        for (int i = tailLen - 22; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == 0x06054b50) { eocd = i; break; }
        if (eocd < 0) throw new ProbeException(Bad("no end-of-central-directory record (truncated, or not a zip file)"));
        var e = tail.AsSpan(eocd);
        long entries = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
        if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            long locPos = len - tailLen + eocd - 20;
            if (locPos < 0) throw new ProbeException(Bad("a zip64 record is missing"));
            var loc = new byte[20];
            fs.Position = locPos;
            fs.ReadExactly(loc);
            if (BinaryPrimitives.ReadUInt32LittleEndian(loc) != 0x07064b50) throw new ProbeException(Bad("a zip64 locator is missing"));
            long z64 = (long)BinaryPrimitives.ReadUInt64LittleEndian(loc.AsSpan(8));
            var rec = new byte[56];
            if (z64 < 0 || z64 > len - 56) throw new ProbeException(Bad("the zip64 record is out of range"));
            fs.Position = z64;
            fs.ReadExactly(rec);
            if (BinaryPrimitives.ReadUInt32LittleEndian(rec) != 0x06064b50) throw new ProbeException(Bad("the zip64 record is corrupt"));
            entries = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(32));
            cdSize = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(40));
            cdOffset = (long)BinaryPrimitives.ReadUInt64LittleEndian(rec.AsSpan(48));
        }
        if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > len || cdSize > int.MaxValue)
            throw new ProbeException(Bad("its central directory lies outside the file (truncated?)"));
        var cd = new byte[cdSize];
        fs.Position = cdOffset;
        fs.ReadExactly(cd);
        var list = new List<ZipMember>();
        int p = 0;
        for (long k = 0; k < entries; k++)
        {
            if (p + 46 > cd.Length || BinaryPrimitives.ReadUInt32LittleEndian(cd.AsSpan(p)) != 0x02014b50)
                throw new ProbeException(Bad("its central directory is corrupt"));
            var h = cd.AsSpan(p);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            long comp = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long size = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long local = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            if (p + 46 + nameLen + extraLen > cd.Length) throw new ProbeException(Bad("its central directory is corrupt"));
            string name = Encoding.UTF8.GetString(h.Slice(46, nameLen));
            var extra = h.Slice(46 + nameLen, extraLen);
            for (int q = 0; q + 4 <= extra.Length;)
            {
                int id = BinaryPrimitives.ReadUInt16LittleEndian(extra[q..]);
                int sz = BinaryPrimitives.ReadUInt16LittleEndian(extra[(q + 2)..]);
                if (id == 1)
                {
                    int r = q + 4;
                    if (size == 0xFFFFFFFF && r + 8 <= q + 4 + sz) { size = (long)BinaryPrimitives.ReadUInt64LittleEndian(extra[r..]); r += 8; }
                    if (comp == 0xFFFFFFFF && r + 8 <= q + 4 + sz) { comp = (long)BinaryPrimitives.ReadUInt64LittleEndian(extra[r..]); r += 8; }
                    if (local == 0xFFFFFFFF && r + 8 <= q + 4 + sz) { local = (long)BinaryPrimitives.ReadUInt64LittleEndian(extra[r..]); }
                }
                q += 4 + sz;
            }
            p += 46 + nameLen + extraLen + commentLen;
            if ((flags & 1) != 0) throw new ProbeException($"NPZ file '{path}': member '{name}' is encrypted; Probe cannot read it.");
            // The data follows the member's local header, whose name and extra lengths may differ from the central copy.
            if (local < 0 || local > len - 30) throw new ProbeException(Bad($"member '{name}' lies outside the file"));
            var lh = new byte[30];
            fs.Position = local;
            fs.ReadExactly(lh);
            if (BinaryPrimitives.ReadUInt32LittleEndian(lh) != 0x04034b50) throw new ProbeException(Bad($"member '{name}' has no local header"));
            long data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh.AsSpan(26)) + BinaryPrimitives.ReadUInt16LittleEndian(lh.AsSpan(28));
            if (data + comp > len) throw new ProbeException($"NPZ file '{path}' is truncated: member '{name}' needs {comp} bytes from offset {data} but the file has {len}.");
            list.Add(new ZipMember(name, method, comp, size, data));
        }
        return list;
    }
}

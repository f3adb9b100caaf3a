using System.Buffers.Binary;
using System.IO.Compression;

namespace Probe.Data;

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST (raw or gzipped, detected by the bytes 1f 8b): a magic
/// of two zero bytes, a type byte (0x08, unsigned byte, is the one Probe reads), the number of dimensions, each size
/// as a big-endian int32, then the values. Sizes are checked against a cap and the file's actual length before any
/// allocation; gzipped data is read in chunks so a lying header cannot make Probe allocate more than it decompresses.
/// </summary>
public static class Idx
{
    /// <summary>The most values one IDX file may hold (1e9: about 16,000 MNIST training sets).</summary>
    public const long MaxValues = 1_000_000_000;

    /// <summary>Reads an idx3-ubyte image file: the image count, rows, columns and the pixels (row-major, image after image).</summary>
    public static (int Count, int Rows, int Cols, byte[] Pixels) ReadImages(string path)
    {
        var (dims, data) = Read(path, 3, "images (idx3-ubyte)");
        if (dims[1] == 0 || dims[2] == 0)
            throw new ProbeException($"IDX file '{path}' declares images of {dims[1]} x {dims[2]} pixels.");
        return (dims[0], dims[1], dims[2], data);
    }

    /// <summary>Reads an idx1-ubyte label file.</summary>
    public static byte[] ReadLabels(string path) => Read(path, 1, "labels (idx1-ubyte)").Data;

    /// <summary>Reads an unsigned-byte IDX file with <paramref name="expectedDims"/> dimensions.</summary>
    public static (int[] Dims, byte[] Data) Read(string path, int expectedDims, string what = "IDX data")
    {
        if (!File.Exists(path)) throw new ProbeException($"IDX file '{path}' does not exist.");
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ProbeException($"Cannot open IDX file '{path}': {e.Message}", e);
        }
        using (file)
        {
            Span<byte> sig = stackalloc byte[2];
            int got = file.ReadAtLeast(sig, 2, throwOnEndOfStream: false);
            file.Position = 0;
            bool gz = got == 2 && sig[0] == 0x1f && sig[1] == 0x8b;
            if (!gz) return ReadFrom(file, path, expectedDims, what, file.Length);
            using var unzip = new GZipStream(file, CompressionMode.Decompress);
            try { return ReadFrom(unzip, path, expectedDims, what, null); }
            catch (InvalidDataException e)
            {
                throw new ProbeException($"IDX file '{path}' is not a valid gzip file ({e.Message}); it may be truncated or corrupt.", e);
            }
        }
    }

    static (int[] Dims, byte[] Data) ReadFrom(Stream s, string path, int expectedDims, string what, long? rawLength)
    {
        string kind = rawLength == null ? "gzipped IDX file" : "IDX file";
        Span<byte> head = stackalloc byte[4];
        if (s.ReadAtLeast(head, 4, false) < 4)
            throw new ProbeException($"{kind} '{path}' is too short to hold an IDX header (4 bytes).");
        if (head[0] != 0 || head[1] != 0)
            throw new ProbeException($"'{path}' is not an IDX file: it should start with two zero bytes but starts with {head[0]:x2} {head[1]:x2}.");
        if (head[2] != 0x08)
            throw new ProbeException($"{kind} '{path}' holds {TypeName(head[2])} values (type byte 0x{head[2]:x2}); Probe reads unsigned bytes (0x08) only, as used by MNIST and Fashion-MNIST.");
        int ndims = head[3];
        if (ndims != expectedDims)
            throw new ProbeException($"{kind} '{path}' has {ndims} dimension(s); {what} need {expectedDims}. Is it the right file (images are idx3, labels idx1)?");
        Span<byte> sizes = stackalloc byte[4 * ndims];
        if (s.ReadAtLeast(sizes, sizes.Length, false) < sizes.Length)
            throw new ProbeException($"{kind} '{path}' is truncated inside its header (the sizes of its {ndims} dimensions).");
        var dims = new int[ndims];
        long total = 1;
        for (int i = 0; i < ndims; i++)
        {
            uint d = BinaryPrimitives.ReadUInt32BigEndian(sizes.Slice(4 * i, 4));
            if (d > int.MaxValue)
                throw new ProbeException($"{kind} '{path}' declares dimension {i} of size {d}; the header is corrupt.");
            dims[i] = (int)d;
            total = d == 0 || total == 0 ? 0 : (total > MaxValues / d ? MaxValues + 1 : total * d);
            if (total > MaxValues)
                throw new ProbeException($"{kind} '{path}' declares sizes {string.Join(" x ", dims.Take(i + 1))}, more than the {MaxValues} values Probe accepts; the header is corrupt.");
        }
        if (dims[0] == 0) throw new ProbeException($"{kind} '{path}' holds no items (its first dimension is 0).");
        long headerBytes = 4 + 4L * ndims;
        if (rawLength is long len)
        {
            long available = len - headerBytes;
            if (available < total)
                throw new ProbeException($"IDX file '{path}' is truncated: its header declares {string.Join(" x ", dims)} = {total} bytes of data but only {available} follow.");
            if (available > total)
                throw new ProbeException($"IDX file '{path}' has {available - total} unexpected bytes after the {total} bytes of data its header ({string.Join(" x ", dims)}) declares.");
            var data = new byte[total];
            s.ReadExactly(data);
            return (dims, data);
        }
        // gzip: the decompressed length is unknown until read, so grow the buffer as data actually arrives.
        var buffer = new byte[Math.Min(total, 1 << 20)];
        long filled = 0;
        while (filled < total)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(total, (long)buffer.Length * 2));
            int n = s.Read(buffer, (int)filled, buffer.Length - (int)filled);
            if (n == 0)
                throw new ProbeException($"Gzipped IDX file '{path}' is truncated: its header declares {string.Join(" x ", dims)} = {total} bytes of data but the decompressed data ends after {filled}.");
            filled += n;
        }
        Span<byte> extra = stackalloc byte[1];
        if (s.Read(extra) != 0)
            throw new ProbeException($"Gzipped IDX file '{path}' has unexpected bytes after the {total} bytes of data its header ({string.Join(" x ", dims)}) declares.");
        return (dims, buffer);
    }

    static string TypeName(byte t) => t switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "unknown-type",
    };
}

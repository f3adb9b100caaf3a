using System.Buffers.Binary;
using System.Text;
using System.Xml.Linq;
using Xunit;

namespace Probe.Tests;

/// <summary>
/// Checks that a written file is what its extension says, by the format's own specification (not by reading it back
/// with Probe): PNG (ISO/IEC 15948: signature, IHDR first, IEND last, every chunk's CRC-32), SVG (well-formed XML
/// whose root is an svg element in the SVG namespace, with drawn content), safetensors (an 8-byte little-endian
/// header length, a JSON header whose tensors' offsets tile the data area exactly).
/// </summary>
internal static class FileAssert
{
    static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Asserts a valid PNG and returns its pixel size.</summary>
    public static (int Width, int Height) Png(string path)
    {
        Assert.True(File.Exists(path), $"missing PNG {path}");
        var b = File.ReadAllBytes(path);
        Assert.True(b.Length > 8 && b.AsSpan(0, 8).SequenceEqual(PngSignature), $"{path}: no PNG signature");
        int pos = 8, width = 0, height = 0;
        var types = new List<string>();
        while (pos < b.Length)
        {
            Assert.True(pos + 12 <= b.Length, $"{path}: truncated chunk at byte {pos}");
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos));
            Assert.True(len >= 0 && pos + 12 + len <= b.Length, $"{path}: chunk at byte {pos} overruns the file");
            string type = Encoding.ASCII.GetString(b, pos + 4, 4);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos + 8 + len));
            Assert.True(crc == Crc32(b.AsSpan(pos + 4, 4 + len)), $"{path}: bad CRC in chunk {type}");
            if (type == "IHDR")
            {
                width = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos + 8));
                height = (int)BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(pos + 12));
            }
            types.Add(type);
            pos += 12 + len;
        }
        Assert.Equal("IHDR", types[0]);
        Assert.Equal("IEND", types[^1]);
        Assert.Contains("IDAT", types);
        Assert.True(width > 0 && height > 0, $"{path}: {width} x {height} pixels");
        return (width, height);
    }

    /// <summary>Asserts a well-formed SVG document with drawn content and returns it.</summary>
    public static XDocument Svg(string path)
    {
        Assert.True(File.Exists(path), $"missing SVG {path}");
        var doc = XDocument.Load(path);
        XNamespace svg = "http://www.w3.org/2000/svg";
        Assert.Equal(svg + "svg", doc.Root!.Name);
        Assert.True(doc.Root.Descendants().Count(e => e.Name.LocalName is "path" or "polyline" or "polygon" or "rect" or "line" or "circle" or "text") > 0,
            $"{path}: nothing drawn");
        return doc;
    }

    /// <summary>Asserts a well-formed safetensors file and returns its tensor names.</summary>
    public static IReadOnlyList<string> SafeTensors(string path)
    {
        Assert.True(File.Exists(path), $"missing safetensors {path}");
        var b = File.ReadAllBytes(path);
        Assert.True(b.Length >= 8, $"{path}: shorter than its header length");
        long n = BinaryPrimitives.ReadInt64LittleEndian(b);
        Assert.True(n > 0 && 8 + n <= b.Length, $"{path}: header length {n}");
        using var header = System.Text.Json.JsonDocument.Parse(b.AsMemory(8, (int)n));
        var spans = new List<(long Begin, long End)>();
        var names = new List<string>();
        foreach (var t in header.RootElement.EnumerateObject())
        {
            if (t.Name == "__metadata__") continue;
            names.Add(t.Name);
            var off = t.Value.GetProperty("data_offsets");
            spans.Add((off[0].GetInt64(), off[1].GetInt64()));
        }
        spans.Sort();
        long at = 0;
        foreach (var (begin, end) in spans) { Assert.Equal(at, begin); Assert.True(end >= begin); at = end; }
        Assert.Equal(b.Length - 8 - n, at); // the tensors tile the data area exactly
        return names;
    }

    static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte x in data)
        {
            c ^= x;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}

using System.Text;
using System.Text.Json;

namespace Probe.Tests.Projection;

/// <summary>Test helper: a minimal float32 C-order NPY v1.0 reader and access to expected.json (Projection tests only).</summary>
internal static class ProjectionTestData
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static Matrix ReadNpyFloat32(string name)
    {
        var bytes = File.ReadAllBytes(Fixture(name));
        if (bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY") throw new InvalidDataException($"{name} is not an NPY file");
        int headerLen = BitConverter.ToUInt16(bytes, 8);
        var header = Encoding.ASCII.GetString(bytes, 10, headerLen);
        if (!header.Contains("'<f4'", StringComparison.Ordinal) || header.Contains("'fortran_order': True", StringComparison.Ordinal))
            throw new InvalidDataException($"{name}: only little-endian float32 C-order arrays are supported by this test helper");
        int open = header.IndexOf('(', StringComparison.Ordinal), close = header.IndexOf(')', StringComparison.Ordinal);
        var dims = header[(open + 1)..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        int rows = dims[0], cols = dims.Length > 1 ? dims[1] : 1;
        var data = new float[rows * cols];
        Buffer.BlockCopy(bytes, 10 + headerLen, data, 0, data.Length * 4);
        return new Matrix(rows, cols, data);
    }

    public static JsonElement Expected(params string[] path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixture("expected.json")));
        var e = doc.RootElement;
        foreach (var p in path) e = e.GetProperty(p);
        return e.Clone();
    }

    static Matrix? digits;
    /// <summary>The first n rows of digits_input.npy (1,797 x 64, pixels / 16).</summary>
    public static Matrix Digits(int n)
    {
        digits ??= ReadNpyFloat32("digits_input.npy");
        return digits.Slice(0, n);
    }
}

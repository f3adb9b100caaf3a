using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Probe.Tests.Analysis;

/// <summary>Test helper only: a minimal NPY v1.0 reader (little-endian float32 / int32 / bool, C order) and fixture access.</summary>
internal static class TestNpy
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static (string Descr, int[] Shape, byte[] Body) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY" || bytes[6] != 1)
            throw new InvalidDataException($"{path} is not an NPY v1 file.");
        int hl = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        string header = Encoding.ASCII.GetString(bytes, 10, hl);
        string descr = Between(header, "'descr': '", "'");
        if (header.Contains("'fortran_order': True")) throw new InvalidDataException("Fortran order not supported.");
        var shape = Between(header, "'shape': (", ")").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        return (descr, shape, bytes[(10 + hl)..]);
    }

    private static string Between(string s, string a, string b)
    {
        int i = s.IndexOf(a, StringComparison.Ordinal) + a.Length;
        return s[i..s.IndexOf(b, i, StringComparison.Ordinal)];
    }

    public static Matrix ReadMatrix(string name)
    {
        var (descr, shape, body) = Read(Fixture(name));
        if (descr != "<f4" || shape.Length != 2) throw new InvalidDataException($"{name}: expected a 2-D <f4 array, got {descr}.");
        var data = new float[shape[0] * shape[1]];
        Buffer.BlockCopy(body, 0, data, 0, data.Length * 4);
        return new Matrix(shape[0], shape[1], data);
    }

    public static int[] ReadInt32(string name)
    {
        var (descr, shape, body) = Read(Fixture(name));
        if (descr != "<i4" || shape.Length != 1) throw new InvalidDataException($"{name}: expected a 1-D <i4 array.");
        var data = new int[shape[0]];
        Buffer.BlockCopy(body, 0, data, 0, data.Length * 4);
        return data;
    }

    public static bool[] ReadBool(string name)
    {
        var (descr, shape, body) = Read(Fixture(name));
        if (descr != "|b1" || shape.Length != 1) throw new InvalidDataException($"{name}: expected a 1-D |b1 array.");
        return body.Take(shape[0]).Select(b => b != 0).ToArray();
    }

    private static JsonElement? _expected;

    /// <summary>expected.json -> digits_mlp.per_layer.&lt;layer&gt;.</summary>
    public static JsonElement Layer(string layer)
    {
        _expected ??= JsonDocument.Parse(File.ReadAllText(Fixture("expected.json"))).RootElement;
        return _expected.Value.GetProperty("digits_mlp").GetProperty("per_layer").GetProperty(layer);
    }

    public static readonly string[] DigitsLayers = ["input", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4"];
}

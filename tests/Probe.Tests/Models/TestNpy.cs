using System.Buffers.Binary;
using System.Text;

namespace Probe.Tests.Models;

/// <summary>Test helper: a minimal NPY v1.0 reader (little-endian float32, int32, bool; C order) for fixtures.</summary>
internal static class TestNpy
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    static (string Descr, int[] Shape, byte[] Data) Read(string path)
    {
        var b = File.ReadAllBytes(path);
        if (b.Length < 10 || b[0] != 0x93 || Encoding.ASCII.GetString(b, 1, 5) != "NUMPY" || b[6] != 1)
            throw new InvalidDataException($"{path}: not an NPY v1.0 file");
        int hlen = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(8));
        string header = Encoding.ASCII.GetString(b, 10, hlen);
        if (header.Contains("'fortran_order': True")) throw new InvalidDataException("Fortran order");
        string descr = header.Split("'descr':")[1].Split('\'')[1];
        string shapeText = header.Split("'shape':")[1].Split('(')[1].Split(')')[0];
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        return (descr, shape, b.AsSpan(10 + hlen).ToArray());
    }

    public static Matrix ReadMatrix(string path)
    {
        var (descr, shape, data) = Read(path);
        if (descr != "<f4" || shape.Length != 2) throw new InvalidDataException($"{path}: {descr} {shape.Length}-d");
        var values = new float[shape[0] * shape[1]];
        Buffer.BlockCopy(data, 0, values, 0, values.Length * 4);
        return new Matrix(shape[0], shape[1], values);
    }

    public static int[] ReadInt32(string path)
    {
        var (descr, shape, data) = Read(path);
        if (descr != "<i4") throw new InvalidDataException(descr);
        var values = new int[shape.Aggregate(1, (a, c) => a * c)];
        Buffer.BlockCopy(data, 0, values, 0, values.Length * 4);
        return values;
    }

    public static bool[] ReadBool(string path)
    {
        var (descr, shape, data) = Read(path);
        if (descr != "|b1") throw new InvalidDataException(descr);
        return data.Take(shape.Aggregate(1, (a, c) => a * c)).Select(x => x != 0).ToArray();
    }
}

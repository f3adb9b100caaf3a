using Xunit;
using System.Text;
using System.Text.Json;
using Probe.Data;

namespace Probe.Tests.Data;

public class NpyTests
{
    /// <summary>Test helper: an .npy file with a hand-written header dict (spec: numpy.lib.format, NEP 1).</summary>
    internal static byte[] NpyFile(string dict, byte[] data, int major = 1, bool pad = true)
    {
        int pre = major == 1 ? 10 : 12;
        string h = dict;
        if (pad) { int total = (pre + h.Length + 1 + 63) / 64 * 64; h = h.PadRight(total - pre - 1); }
        h += "\n";
        var hb = major == 3 ? Encoding.UTF8.GetBytes(h) : Encoding.Latin1.GetBytes(h);
        using var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)hb.Length));
        else ms.Write(BitConverter.GetBytes((uint)hb.Length));
        ms.Write(hb);
        ms.Write(data);
        return ms.ToArray();
    }

    static byte[] Floats(params float[] v) => v.SelectMany(BitConverter.GetBytes).ToArray();

    static JsonElement Expected() => JsonDocument.Parse(File.ReadAllText(TempDir.Fixture("expected.json"))).RootElement;

    // Shapes: expected.json digits_mlp.per_layer.<layer>.shape; cka_x is 300 x 40 and every cka_* has 300 rows (SOURCE.md).
    [Fact]
    public void ReadsEveryFixture_WithDocumentedShapes()
    {
        var perLayer = Expected().GetProperty("digits_mlp").GetProperty("per_layer");
        foreach (var layer in perLayer.EnumerateObject())
        {
            var shape = layer.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var m = Npy.ReadMatrix(TempDir.Fixture($"digits_{layer.Name}.npy"));
            Assert.Equal((shape[0], shape[1]), (m.Rows, m.Cols));
            Assert.Equal(0, m.CountNonFinite());
        }
        var x = Npy.Read(TempDir.Fixture("cka_x.npy"));
        Assert.Equal(NpyDType.Float32, x.DType);
        Assert.Equal([300, 40], x.Shape);
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures"), "cka_*.npy"))
            Assert.Equal(300, Npy.Read(f).Shape[0]);
        var labels = Npy.Read(TempDir.Fixture("digits_labels.npy"));
        Assert.Equal(NpyDType.Int32, labels.DType);
        Assert.Equal([1797], labels.Shape);
        Assert.All(Npy.ReadInt32(TempDir.Fixture("digits_labels.npy")), l => Assert.InRange(l, 0, 9));
        var mask = Npy.ReadBool(TempDir.Fixture("digits_probe_train_mask.npy"));
        Assert.Equal(1797, mask.Length);
        Assert.Equal(1200, mask.Count(b => b)); // SOURCE.md: "the 1,200 samples a probe trains on"
    }

    // Values: expected.json digits_mlp.per_layer.relu1.sparsity and relu2.dead_units, computed by NumPy from these files.
    [Fact]
    public void FixtureValues_MatchNumPyStatistics()
    {
        var perLayer = Expected().GetProperty("digits_mlp").GetProperty("per_layer");
        var relu1 = Npy.ReadMatrix(TempDir.Fixture("digits_relu1.npy"));
        double sparsity = relu1.Data.Count(v => v == 0) / (double)relu1.Data.Length;
        Assert.Equal(perLayer.GetProperty("relu1").GetProperty("sparsity").GetDouble(), sparsity, 12);
        var relu2 = Npy.ReadMatrix(TempDir.Fixture("digits_relu2.npy"));
        var dead = Enumerable.Range(0, relu2.Cols).Where(j => Enumerable.Range(0, relu2.Rows).All(i => relu2[i, j] == 0)).ToArray();
        Assert.Equal(perLayer.GetProperty("relu2").GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()), dead);
    }

    public static TheoryData<NpyArray> RoundTripArrays() => new()
    {
        new NpyArray(NpyDType.Float32, [2, 3], new float[] { 1.5f, -2, float.Epsilon, float.MaxValue, float.NaN, 0 }),
        new NpyArray(NpyDType.Float64, [3], new double[] { Math.PI, -1e300, double.NegativeInfinity }),
        new NpyArray(NpyDType.Int32, [2, 2], new[] { int.MinValue, -1, 0, int.MaxValue }),
        new NpyArray(NpyDType.Int64, [1, 2, 2], new[] { long.MinValue, -1L, 0L, long.MaxValue }),
        new NpyArray(NpyDType.UInt8, [4], new byte[] { 0, 1, 128, 255 }),
        new NpyArray(NpyDType.Bool, [2, 1], new[] { true, false }),
        new NpyArray(NpyDType.Float32, [], new float[] { 7 }),
        new NpyArray(NpyDType.Float32, [0, 5], Array.Empty<float>()),
        new NpyArray(NpyDType.Float32, [2, 1, 2, 2], Enumerable.Range(0, 8).Select(i => (float)i).ToArray()),
    };

    [Theory]
    [MemberData(nameof(RoundTripArrays))]
    public void WriteThenRead_RoundTripsEveryDtypeAndShape(NpyArray a)
    {
        using var t = new TempDir();
        Npy.Write(t.File("a.npy"), a);
        var bytes = File.ReadAllBytes(t.File("a.npy"));
        int hlen = bytes[8] | (bytes[9] << 8);
        Assert.Equal(1, bytes[6]);
        Assert.Equal(0, (10 + hlen) % 64); // spec v1.0: the data starts at a multiple of 64
        Assert.Equal((byte)'\n', bytes[10 + hlen - 1]);
        var b = Npy.Read(t.File("a.npy"));
        Assert.Equal(a.DType, b.DType);
        Assert.Equal(a.Shape, b.Shape);
        Assert.Equal(a.Data, b.Data);
    }

    [Fact]
    public void WriteHeader_IsTheDictNumPyWrites()
    {
        using var t = new TempDir();
        Npy.Write(t.File("m.npy"), new Matrix(2, 3));
        var text = Encoding.Latin1.GetString(File.ReadAllBytes(t.File("m.npy")), 10, 118);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", text);
        Npy.Write(t.File("v.npy"), new[] { 1, 2, 3 });
        text = Encoding.Latin1.GetString(File.ReadAllBytes(t.File("v.npy")), 10, 118);
        Assert.StartsWith("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", text);
    }

    [Fact]
    public void TypedWriters_RoundTrip()
    {
        using var t = new TempDir();
        var m = Matrix.Create(3, 4, (i, j) => i * 10 + j + 0.25f);
        Npy.Write(t.File("m.npy"), m);
        Assert.Equal(m.Data, Npy.ReadMatrix(t.File("m.npy")).Data);
        Npy.Write(t.File("i.npy"), new[] { 5, -3, 0 });
        Assert.Equal([5, -3, 0], Npy.ReadInt32(t.File("i.npy")));
        Npy.Write(t.File("b.npy"), new[] { true, true, false });
        Assert.Equal([true, true, false], Npy.ReadBool(t.File("b.npy")));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ReadsFormatVersions(int major)
    {
        using var t = new TempDir();
        File.WriteAllBytes(t.File("v.npy"), NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", Floats(1, 2), major));
        var a = Npy.Read(t.File("v.npy"));
        Assert.Equal([2], a.Shape);
        Assert.Equal(new float[] { 1, 2 }, a.Data);
    }

    [Theory]
    [InlineData("{\"shape\": (2, 1), \"fortran_order\": False, \"descr\": \"<f4\"}")] // other order, double quotes, no trailing comma
    [InlineData("{'descr':'<f4','fortran_order':False,'shape':(2L, 1L)}")]          // Python 2 longs, no spaces
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1,), }")]     // trailing comma in the tuple
    public void ParsesHeaderDictVariants(string dict)
    {
        using var t = new TempDir();
        File.WriteAllBytes(t.File("h.npy"), NpyFile(dict, Floats(3, 4)));
        var m = Npy.ReadMatrix(t.File("h.npy"));
        Assert.Equal((2, 1), (m.Rows, m.Cols));
        Assert.Equal(new float[] { 3, 4 }, m.Data);
    }

    [Fact]
    public void ReadMatrix_MapsShapes()
    {
        using var t = new TempDir();
        Npy.Write(t.File("v.npy"), new NpyArray(NpyDType.Float64, [3], new double[] { 1, 2, 3 }));
        var v = Npy.ReadMatrix(t.File("v.npy"));
        Assert.Equal((3, 1), (v.Rows, v.Cols));
        Assert.Equal(new float[] { 1, 2, 3 }, v.Data);
        Npy.Write(t.File("c.npy"), new NpyArray(NpyDType.UInt8, [2, 1, 2, 3], Enumerable.Range(0, 12).Select(i => (byte)i).ToArray()));
        var c = Npy.ReadMatrix(t.File("c.npy"));
        Assert.Equal((2, 6), (c.Rows, c.Cols));
        Assert.Equal(11f, c[1, 5]);
        Npy.Write(t.File("big.npy"), new NpyArray(NpyDType.Float64, [1], new double[] { 1e300 }));
        Assert.Contains("float32", Assert.Throws<ProbeException>(() => Npy.ReadMatrix(t.File("big.npy"))).Message);
    }

    [Fact]
    public void ReadInt32_AcceptsIntegerDtypes_ChecksRangeAndDtype()
    {
        using var t = new TempDir();
        Npy.Write(t.File("l64.npy"), new NpyArray(NpyDType.Int64, [3], new long[] { 0, 9, 4 }));
        Assert.Equal([0, 9, 4], Npy.ReadInt32(t.File("l64.npy")));
        Npy.Write(t.File("u8.npy"), new NpyArray(NpyDType.UInt8, [2, 1], new byte[] { 7, 255 }));
        Assert.Equal([7, 255], Npy.ReadInt32(t.File("u8.npy")));
        Npy.Write(t.File("huge.npy"), new NpyArray(NpyDType.Int64, [1], new[] { 1L << 40 }));
        Assert.Contains("does not fit in int32", Assert.Throws<ProbeException>(() => Npy.ReadInt32(t.File("huge.npy"))).Message);
        Npy.Write(t.File("f.npy"), new NpyArray(NpyDType.Float32, [1], new[] { 1f }));
        Assert.Contains("'<f4'", Assert.Throws<ProbeException>(() => Npy.ReadInt32(t.File("f.npy"))).Message);
        Npy.Write(t.File("m.npy"), new Matrix(2, 2));
        Assert.Contains("(2, 2)", Assert.Throws<ProbeException>(() => Npy.ReadInt32(t.File("m.npy"))).Message);
        Assert.Contains("'<i8'", Assert.Throws<ProbeException>(() => Npy.ReadBool(t.File("l64.npy"))).Message);
    }

    public static TheoryData<string, byte[], string> BadFiles()
    {
        const string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        var data = Floats(1, 2, 3, 4);
        var good = NpyFile(ok, data);
        return new()
        {
            { "fortran", NpyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data), "Fortran" },
            { "bigendian", NpyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", data), "'>f4'" },
            { "uint32", NpyFile("{'descr': '<u4', 'fortran_order': False, 'shape': (4,), }", data), "'<u4'" },
            { "complex", NpyFile("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", data), "'<c8'" },
            { "structured", NpyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", data), "structured" },
            { "truncated", good[..^3], "truncated" },
            { "truncated header", good[..40], "truncated" },
            { "trailing", [.. good, 0, 0, 0, 0], "unexpected bytes" },
            { "huge shape", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", data), "more than" },
            { "claims more", NpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 1000), }", data), "truncated" },
            { "negative", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", data), "negative" },
            { "bad magic", [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'X', 1, 0, 0, 0], "not an .npy file" },
            { "version 4", NpyFile(ok, data, major: 4), "version 4.0" },
            { "missing key", NpyFile("{'descr': '<f4', 'shape': (2, 2), }", data), "'fortran_order'" },
            { "extra key", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", data), "'x'" },
            { "garbage header", NpyFile("{'descr': '<f4', 'fortran_order': Fals", data), "unreadable header" },
            { "float shape", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0, 2), }", data), "unreadable header" },
            { "empty", [], "too short" },
        };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFile_ThrowsClearError(string name, byte[] bytes, string expected)
    {
        using var t = new TempDir();
        string path = t.File(name.Replace(' ', '_') + ".npy");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<ProbeException>(() => Npy.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void LyingHeader_DoesNotAllocateWhatItClaims()
    {
        using var t = new TempDir();
        File.WriteAllBytes(t.File("liar.npy"), NpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (200000000,), }", Floats(1, 2)));
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<ProbeException>(() => Npy.Read(t.File("liar.npy")));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20);
    }

    [Fact]
    public void NpyArray_RejectsMismatchedData()
    {
        Assert.Throws<ProbeException>(() => new NpyArray(NpyDType.Float32, [2, 2], new float[2, 2]));
        Assert.Throws<ProbeException>(() => new NpyArray(NpyDType.Float32, [3], new double[3]));
        Assert.Throws<ProbeException>(() => new NpyArray(NpyDType.Int32, [2, 2], new int[3]));
    }

    [Fact]
    public void MissingFile_IsAProbeException()
    {
        Assert.Contains("does not exist", Assert.Throws<ProbeException>(() => Npy.Read("/nonexistent/x.npy")).Message);
    }

    [Fact]
    public void MatrixWriter_StreamsBatchesAndPatchesShape()
    {
        using var t = new TempDir();
        var all = Matrix.Create(10, 3, (i, j) => i * 3 + j);
        using (var w = new NpyMatrixWriter(t.File("s.npy")))
        {
            w.Write(all.Slice(0, 4));
            w.Write(all.Slice(4, 0));
            w.Write(all.Slice(4, 5));
            w.Write(all.Row(9), 3);
            Assert.Equal(10, w.Rows);
            Assert.Throws<ProbeException>(() => w.Write(new Matrix(1, 2)));
        }
        var bytes = File.ReadAllBytes(t.File("s.npy"));
        int hlen = bytes[8] | (bytes[9] << 8);
        Assert.Equal(0, (10 + hlen) % 64);
        Assert.StartsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (10, 3), }", Encoding.Latin1.GetString(bytes, 10, hlen));
        var back = Npy.ReadMatrix(t.File("s.npy"));
        Assert.Equal((10, 3), (back.Rows, back.Cols));
        Assert.Equal(all.Data, back.Data);
    }

    [Fact]
    public void MatrixWriter_WithNoRows_WritesAnEmptyArray()
    {
        using var t = new TempDir();
        new NpyMatrixWriter(t.File("e.npy"), cols: 7).Dispose();
        var a = Npy.Read(t.File("e.npy"));
        Assert.Equal([0, 7], a.Shape);
    }
}

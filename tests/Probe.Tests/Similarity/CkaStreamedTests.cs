using Probe.Data;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;
using static TorchSharp.torch;

namespace Probe.Tests.Similarity;

/// <summary>
/// CKA over memory-mapped .npy files (read a chunk of rows at a time) must give NumPy's values of
/// Fixtures/expected.json (made by the fixture script from the same files), whatever the chunk size; and the
/// chunked centring of the Gram workspace must equal the plain formula x - 1 mean' for any chunk size.
/// </summary>
public class CkaStreamedTests
{
    private const double Tol = 1e-6;
    public static TheoryData<string> Others => new() { "cka_y_rot", "cka_y_relu", "cka_z", "cka_noise" };
    private static double Expected(string other, string key) => Json.GetProperty("cka_x_vs").GetProperty(other).GetProperty(key).GetDouble();

    [Theory, MemberData(nameof(Others))]
    public void MappedFilesGiveNumPysValuesForAnyChunkSize(string other)
    {
        using var x = NpyDatasets.OpenNpy(Fixture("cka_x.npy"));
        using var y = NpyDatasets.OpenNpy(Fixture(other + ".npy"));
        foreach (int chunk in new[] { 1, 5, 64, 0 })
            foreach (var precision in new[] { CkaPrecision.Double, CkaPrecision.Single })
            {
                string what = $"chunk={chunk} precision={precision}";
                AssertRelative(Expected(other, "linear"), new Cka(Precision: precision).Compute(x, y, chunk), Tol, what);
                if (precision == CkaPrecision.Double)
                    AssertRelative(Expected(other, "linear_debiased"), new Cka(Debiased: true, Precision: precision).Compute(x, y, chunk), Tol, what + " debiased");
            }
        // The public entry point and the kernel form (which holds both in memory) agree too.
        AssertRelative(Expected(other, "linear"), new Cka().Compute((IDataset)x, y), Tol, "default");
        AssertRelative(Expected(other, "linear"), new Cka(Form: CkaForm.Gram).Compute((IDataset)x, y), Tol, "gram");
    }

    /// <summary>
    /// A data set against itself is exactly 1 (its products are formed once), in float32 too, where the symmetric
    /// product (SSYRK) and the general one (SGEMM) round differently with AVX-512 kernels (0.99999998 here); and a
    /// matrix given twice, or an equal copy, likewise in a table.
    /// </summary>
    [Fact]
    public void ADataSetAgainstItselfIsExactlyOne()
    {
        using var x = NpyDatasets.OpenNpy(Fixture("cka_x.npy"));
        foreach (int chunk in new[] { 5, 0 })
            foreach (var precision in new[] { CkaPrecision.Double, CkaPrecision.Single })
                foreach (bool debiased in new[] { false, true })
                    Assert.Equal(1.0, new Cka(Debiased: debiased, Precision: precision).Compute(x, x, chunk));
        var m = x.ToMemory().Features;
        var copy = new Matrix(m.Rows, m.Cols, (float[])m.Data.Clone());
        foreach (var precision in new[] { CkaPrecision.Double, CkaPrecision.Single })
        {
            var cka = new Cka(Precision: precision, Form: CkaForm.FeatureSpace);
            Assert.Equal(1.0, cka.Compute(m, m));
            Assert.Equal(1.0, cka.Compute(m, copy));
            var table = cka.AllPairs(["a", "b"], [m, copy]);
            Assert.Equal(1.0, table.Values[0][1]);
        }
    }

    /// <summary>The float32 and float64 products on OpenBLAS (when this host has it) and on libtorch all give NumPy's values.</summary>
    [Theory, MemberData(nameof(Others))]
    public void BothGemmBackendsGiveNumPysValues(string other)
    {
        using var x = NpyDatasets.OpenNpy(Fixture("cka_x.npy"));
        using var y = NpyDatasets.OpenNpy(Fixture(other + ".npy"));
        foreach (bool torchOnly in new[] { false, true })
        {
            OpenBlas.TorchOnly.Value = torchOnly;
            try
            {
                foreach (var precision in new[] { CkaPrecision.Single, CkaPrecision.Double })
                    foreach (int chunk in new[] { 3, 0 })
                    {
                        string what = $"torchOnly={torchOnly} (OpenBLAS {(OpenBlas.Library ?? "absent")}) {precision} chunk={chunk}";
                        AssertRelative(Expected(other, "linear"), new Cka(Precision: precision).Compute(x, y, chunk), Tol, what);
                        if (precision == CkaPrecision.Double)
                            AssertRelative(Expected(other, "linear_debiased"), new Cka(Debiased: true, Precision: precision).Compute(x, y, chunk), Tol, what + " debiased");
                    }
            }
            finally { OpenBlas.TorchOnly.Value = false; }
        }
    }

    [Fact]
    public void MappedFileWithANaNIsRefusedWithItsName()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-cka-nan-" + Guid.NewGuid().ToString("N"));
        try
        {
            var m = Gaussian(20, 3, 1);
            m.Data[17] = float.NaN;
            Npy.Write(Path.Combine(dir, "a.npy"), m);
            Npy.Write(Path.Combine(dir, "b.npy"), Gaussian(20, 2, 2));
            using var a = NpyDatasets.OpenNpy(Path.Combine(dir, "a.npy"));
            using var b = NpyDatasets.OpenNpy(Path.Combine(dir, "b.npy"));
            var e = Assert.Throws<ProbeException>(() => new Cka().Compute(a, b, 4));
            Assert.Contains("the first matrix has non-finite values", e.Message);
            var rows = Assert.Throws<ProbeException>(() => new Cka().Compute(b, new Dataset("d", Gaussian(19, 2, 3), null, [2])));
            Assert.Contains("20", rows.Message);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(0)]
    public void ChunkedCentringEqualsThePlainFormula(int chunkRows)
    {
        var x = Gaussian(23, 7, 5, scale: 2, shift: 3);
        var plain = CkaMath.CentredColumns(x); // double, row-major
        using var t64 = zeros(30, 7, dtype: ScalarType.Float64);
        using var t32 = zeros(30, 7, dtype: ScalarType.Float32);
        CkaEngine.WriteCentred(x, t64, chunkRows);
        CkaEngine.WriteCentred(x, t32, chunkRows);
        var d64 = t64.data<double>().ToArray();
        var d32 = t32.data<float>().ToArray();
        for (int i = 0; i < 23 * 7; i++)
        {
            Assert.Equal(plain[i], d64[i]);
            Assert.Equal((float)plain[i], d32[i]);
        }
        for (int i = 23 * 7; i < 30 * 7; i++) Assert.Equal(0.0, d64[i]); // rows past n untouched
    }

    private static void AssertRelative(double expected, double actual, double tol, string what) =>
        Assert.True(Math.Abs(actual - expected) <= tol * Math.Max(1e-12, Math.Abs(expected)),
            $"{what}: expected {expected:R}, got {actual:R}");
}

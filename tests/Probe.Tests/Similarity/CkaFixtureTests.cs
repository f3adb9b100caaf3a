using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>
/// Parity with the reference values of Fixtures/expected.json (NumPy, double precision from the float32 files;
/// SOURCE.md: 1e-6 relative) and the file-free 12-sample vectors of Fixtures/SOURCE.md.
/// </summary>
public class CkaFixtureTests
{
    private const double Tol = 1e-6;
    public static TheoryData<string> Others => new() { "cka_y_rot", "cka_y_relu", "cka_z", "cka_noise" };

    private static readonly Lazy<Matrix> X = new(() => ReadNpyFloat32("cka_x.npy"));
    private static double Expected(string other, string key) => Json.GetProperty("cka_x_vs").GetProperty(other).GetProperty(key).GetDouble();

    [Theory, MemberData(nameof(Others))]
    public void LinearCkaMatchesReferenceByEveryPath(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        double expected = Expected(other, "linear");
        AssertRelative(expected, CkaMath.LinearCkaFeatureSpace(X.Value, y), Tol, "managed feature space");
        AssertRelative(expected, CkaMath.LinearCkaGram(X.Value, y), Tol, "managed Gram");
        AssertRelative(expected, new Cka().Compute(X.Value, y), Tol, "Cka auto");
        AssertRelative(expected, new Cka(Form: CkaForm.FeatureSpace, Precision: CkaPrecision.Double).Compute(X.Value, y), Tol, "feature double");
        AssertRelative(expected, new Cka(Form: CkaForm.Gram, Precision: CkaPrecision.Double).Compute(X.Value, y), Tol, "Gram double");
        AssertRelative(expected, new Cka(Form: CkaForm.FeatureSpace, Precision: CkaPrecision.Single).Compute(X.Value, y), Tol, "feature single");
    }

    [Theory, MemberData(nameof(Others))]
    public void DebiasedLinearCkaMatchesReference(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        double expected = Expected(other, "linear_debiased");
        AssertRelative(expected, CkaMath.LinearCkaFeatureSpace(X.Value, y, debiased: true), Tol, "managed feature space");
        AssertRelative(expected, CkaMath.LinearCkaGram(X.Value, y, debiased: true), Tol, "managed Gram");
        AssertRelative(expected, new Cka(Debiased: true).Compute(X.Value, y), Tol, "Cka auto");
        AssertRelative(expected, new Cka(Debiased: true, Form: CkaForm.FeatureSpace).Compute(X.Value, y), Tol, "feature");
        AssertRelative(expected, new Cka(Debiased: true, Form: CkaForm.Gram).Compute(X.Value, y), Tol, "Gram");
    }

    /// <summary>
    /// The device engine (what --device cuda runs: chunks copied to the device, centred and multiplied there, products
    /// accumulated in float64) on libtorch's CPU device: NumPy's linear and debiased values, in memory and streamed in
    /// chunks of 7 rows, float32 and float64, and every pair of a table.
    /// </summary>
    [Theory, MemberData(nameof(Others))]
    public void DeviceEngineMatchesReference(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        var cpu = TorchSharp.torch.CPU;
        foreach (var precision in new[] { CkaPrecision.Single, CkaPrecision.Double })
        {
            AssertRelative(Expected(other, "linear"), new Cka(Form: CkaForm.FeatureSpace, Precision: precision) { EngineDevice = cpu }.Compute(X.Value, y), Tol, $"device {precision}");
            // The debiased estimator subtracts near-equal sums: float64 (its automatic precision) only.
            if (precision == CkaPrecision.Double)
                AssertRelative(Expected(other, "linear_debiased"), new Cka(Debiased: true, Form: CkaForm.FeatureSpace, Precision: precision) { EngineDevice = cpu }.Compute(X.Value, y), Tol, $"device debiased {precision}");
            var xs = new Probe.Data.Dataset("x", X.Value, null, [X.Value.Cols]);
            var ys = new Probe.Data.Dataset("y", y, null, [y.Cols]);
            AssertRelative(Expected(other, "linear"), new Cka(Precision: precision) { EngineDevice = cpu }.Compute(xs, ys, chunkRows: 7), Tol, $"device streamed {precision}");
            if (precision == CkaPrecision.Double)
                AssertRelative(Expected(other, "linear_debiased"), new Cka(Debiased: true, Precision: precision) { EngineDevice = cpu }.Compute(xs, ys, chunkRows: 7), Tol, $"device streamed debiased {precision}");
        }
        var table = new Cka(Form: CkaForm.FeatureSpace) { EngineDevice = cpu }.AllPairs(["x", other], [X.Value, y]);
        AssertRelative(Expected(other, "linear"), table.Values[0][1], Tol, "device table");
        AssertRelative(1, table.Values[1][1], 1e-12, "device table diagonal");
    }

    [Theory, MemberData(nameof(Others))]
    public void RbfCkaMatchesReference(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        foreach (var frac in new[] { "0.2", "0.4", "0.8" })
        {
            double f = double.Parse(frac, System.Globalization.CultureInfo.InvariantCulture);
            double expected = Expected(other, "rbf_" + frac);
            AssertRelative(expected, CkaMath.RbfCka(X.Value, y, f), Tol, "managed rbf " + frac);
            AssertRelative(expected, new Cka(CkaKernel.Rbf, f).Compute(X.Value, y), Tol, "Cka rbf " + frac);
        }
        double deb = Expected(other, "rbf_0.4_debiased");
        AssertRelative(deb, CkaMath.RbfCka(X.Value, y, 0.4, debiased: true), Tol, "managed rbf debiased");
        AssertRelative(deb, new Cka(CkaKernel.Rbf, 0.4, Debiased: true).Compute(X.Value, y), Tol, "Cka rbf debiased");
    }

    [Theory, MemberData(nameof(Others))]
    public void Hsic1MatchesReferenceByFormulaUCentringAndFeatureSpace(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        double expected = Expected(other, "hsic1_linear_xy");
        int n = X.Value.Rows;
        // Raw (uncentred) linear Gram matrices, as the reference defines them.
        var k = RawGram(X.Value);
        var l = RawGram(y);
        AssertRelative(expected, CkaMath.Hsic1(k, l, n), Tol, "defining formula");
        var ku = (double[])k.Clone(); CkaMath.UCentreGram(ku, n);
        var lu = (double[])l.Clone(); CkaMath.UCentreGram(lu, n);
        AssertRelative(expected, CkaMath.Dot(ku, lu) / ((double)n * (n - 3)), Tol, "U-centred inner product");
        var xc = CkaMath.CentredColumns(X.Value);
        var yc = CkaMath.CentredColumns(y);
        double cross = CkaMath.CrossNormSquared(xc, X.Value.Cols, yc, y.Cols, n);
        AssertRelative(expected, CkaMath.LinearHsic1FromParts(cross, CkaMath.RowNormsSquared(xc, X.Value.Cols, n), CkaMath.RowNormsSquared(yc, y.Cols, n), n), Tol, "feature space");
    }

    [Theory, MemberData(nameof(Others))]
    public void MinibatchCkaMatchesReference(string other)
    {
        var y = ReadNpyFloat32(other + ".npy");
        double expected = Expected(other, "linear_minibatch_50");
        AssertRelative(expected, MinibatchCka.Compute(X.Value, y, 50, precision: CkaPrecision.Double), Tol, "double");
        AssertRelative(expected, MinibatchCka.Compute(X.Value, y, 50), Tol, "auto");
        AssertRelative(expected, MinibatchCka.Compute(X.Value, y, 50, precision: CkaPrecision.Single), Tol, "single");
    }

    private static readonly string[] DigitsFiles = ["digits_input", "digits_fc1", "digits_relu1", "digits_fc2", "digits_relu2", "digits_fc3", "digits_relu3", "digits_fc4"];

    [Fact]
    public void DigitsAllPairsLinearCkaMatchesReference()
    {
        var digits = Json.GetProperty("digits_mlp");
        var layers = digits.GetProperty("layers").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var mats = layers.Select(l => ReadNpyFloat32($"digits_{l}.npy")).ToArray();
        var expected = digits.GetProperty("linear_cka_matrix").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        foreach (var cka in new[] { new Cka(), new Cka(Form: CkaForm.FeatureSpace, Precision: CkaPrecision.Single), new Cka(Form: CkaForm.Gram, Precision: CkaPrecision.Double) })
        {
            var table = cka.AllPairs(layers, mats);
            Assert.Equal(layers, table.RowLayers);
            Assert.Equal(layers, table.ColLayers);
            Assert.Equal("linear CKA", table.Measure);
            for (int i = 0; i < layers.Length; i++)
                for (int j = 0; j < layers.Length; j++)
                    AssertRelative(expected[i][j], table.Values[i][j], Tol, $"{cka.Form}/{cka.Precision} [{layers[i]}, {layers[j]}]");
        }
        // Cross form of the same: rows = first four layers, columns = last four.
        var cross = new Cka().Cross(layers[..4], mats[..4], layers[4..], mats[4..]);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                AssertRelative(expected[i][j + 4], cross.Values[i][j], Tol, $"cross [{layers[i]}, {layers[j + 4]}]");
    }

    private static double[] RawGram(Matrix x)
    {
        int n = x.Rows;
        var k = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int t = 0; t < x.Cols; t++) s += (double)x[i, t] * x[j, t];
                k[i * n + j] = s;
            }
        return k;
    }

    // ---- SOURCE.md, "Test vectors that need no file (12 samples)" (double precision reference).
    internal static Matrix A12 => Matrix.Create(12, 5, (i, j) => (float)(Math.Sin(0.7 * i + 1.3 * j) + 0.1 * i * (j + 1) / 12.0));
    internal static Matrix B12 => Matrix.Create(12, 4, (i, k) => (float)(Math.Cos(0.5 * i * (k + 1)) + 0.05 * i * i / 12.0 - 0.2 * k));

    // The reference is computed in double from the formulas; our inputs are float32 roundings of them, so the
    // agreement is to float32 input precision (SOURCE.md: 1e-4 in single precision); 1e-6 is checked where it holds.
    [Fact]
    public void TwelveSampleVectorsMatchSourceTable()
    {
        var a = A12; var b = B12;
        const double tol = 1e-6;
        AssertRelative(0.4807939412, new Cka().Compute(a, b), tol, "linear");
        AssertRelative(0.3075598424, new Cka(Debiased: true).Compute(a, b), tol, "linear debiased");
        AssertRelative(0.6461640926, new Cka(CkaKernel.Rbf, 0.5).Compute(a, b), tol, "rbf 0.5");
        AssertRelative(0.5403911513, new Cka(CkaKernel.Rbf, 1.0).Compute(a, b), tol, "rbf 1.0");
        AssertRelative(0.4716236819, CkaMath.Hsic1(RawGram(a), RawGram(b), 12), tol, "hsic1");
        AssertRelative(0.5771130056, MinibatchCka.Compute(a, b, 6), tol, "minibatch 6+6");
        var q = RandomOrthogonal(5, 7);
        AssertRelative(0.4807939412, new Cka().Compute(Multiply(a, q), b), tol, "rotated");
        AssertRelative(0.4807939412, new Cka().Compute(Map(a, v => 3.7f * v), b), tol, "scaled");
    }
}

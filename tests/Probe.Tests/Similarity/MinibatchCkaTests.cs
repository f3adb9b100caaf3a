using Probe.Capture;
using Probe.Similarity;
using Xunit;
using static Probe.Tests.Similarity.SimilarityTestData;

namespace Probe.Tests.Similarity;

/// <summary>The streaming accumulator against the definition (Nguyen, Raghu and Kornblith 2021) evaluated directly.</summary>
public class MinibatchCkaTests
{
    private static readonly string[] Names = ["l0", "l1", "l2"];

    private static Matrix[] Layers(int n, int seed)
    {
        var x = Gaussian(n, 6, seed, shift: 1);
        var y = Matrix.Create(n, 4, (i, j) => MathF.Max(0, x[i, j] + x[i, j + 1]));
        var z = Gaussian(n, 3, seed + 1);
        for (int i = 0; i < n; i++) z[i, 0] += y[i, 2];
        return [x, y, z];
    }

    private static double[] RawGram(Matrix x)
    {
        int n = x.Rows;
        var k = new double[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { double s = 0; for (int t = 0; t < x.Cols; t++) s += (double)x[i, t] * x[j, t]; k[i * n + j] = s; }
        return k;
    }

    // Direct evaluation of the definition with the defining HSIC1 formula, batch by batch (each with its own n).
    private static double Reference(Matrix a, Matrix b, int[] sizes)
    {
        double xy = 0, xx = 0, yy = 0;
        int start = 0;
        foreach (int s in sizes)
        {
            var ka = RawGram(a.Slice(start, s)); var kb = RawGram(b.Slice(start, s));
            xy += CkaMath.Hsic1(ka, kb, s); xx += CkaMath.Hsic1(ka, ka, s); yy += CkaMath.Hsic1(kb, kb, s);
            start += s;
        }
        return xy / Math.Sqrt(xx * yy);
    }

    [Fact]
    public void UnequalBatchesMatchDefinitionAndConsumerInterface()
    {
        int[] sizes = [17, 9, 30, 4, 12];
        var layers = Layers(sizes.Sum(), 3);
        using var acc = new MinibatchCka(Names, precision: CkaPrecision.Double);
        int offset = 0;
        foreach (int s in sizes)
        {
            var outputs = Names.Select((nm, i) => (nm, m: layers[i].Slice(offset, s))).ToDictionary(p => p.nm, p => p.m);
            acc.OnBatch(new ActivationBatch(offset, s, null, outputs, new Dictionary<string, Matrix>()));
            offset += s;
        }
        var table = acc.Result();
        Assert.Equal(Names, table.RowLayers);
        Assert.Equal(sizes.Length, acc.Batches);
        Assert.StartsWith("minibatch linear CKA", table.Measure);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                AssertRelative(i == j ? 1.0 : Reference(layers[i], layers[j], sizes), table.Values[i][j], 1e-10, $"[{i},{j}]");
    }

    [Fact]
    public void CrossAccumulatorPairsTwoModelsByOffset()
    {
        var a = Layers(60, 1);
        var b = Layers(60, 2);
        using var square = new MinibatchCka(["a0", "a1", "a2", "b0", "b1", "b2"], precision: CkaPrecision.Double);
        using var cross = new MinibatchCka(Names, ["m0", "m1"], precision: CkaPrecision.Double);
        for (int s = 0; s < 60; s += 20)
        {
            var da = Names.Select((nm, i) => (nm, m: a[i].Slice(s, 20))).ToDictionary(p => p.nm, p => p.m);
            var db = new Dictionary<string, Matrix> { ["m0"] = b[0].Slice(s, 20), ["m1"] = b[1].Slice(s, 20) };
            // Model B's batch arrives first for the second batch: the accumulator waits for its partner.
            var batchA = new ActivationBatch(s, 20, null, da, new Dictionary<string, Matrix>());
            var batchB = new ActivationBatch(s, 20, null, new Dictionary<string, Matrix>(), db); // found among inputs
            if (s == 20) { cross.ColumnModel.OnBatch(batchB); Assert.Equal(1, cross.PendingBatches); cross.RowModel.OnBatch(batchA); }
            else { cross.RowModel.OnBatch(batchA); cross.ColumnModel.OnBatch(batchB); }
            Assert.Equal(0, cross.PendingBatches);
            var all = new Dictionary<string, Matrix>();
            for (int i = 0; i < 3; i++) { all["a" + i] = a[i].Slice(s, 20); all["b" + i] = b[i].Slice(s, 20); }
            square.Add(all);
        }
        var c = cross.Result();
        var q = square.Result();
        Assert.Equal(["m0", "m1"], c.ColLayers);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
            {
                AssertRelative(q.Values[i][3 + j], c.Values[i][j], 1e-12, $"[{i},{j}]");
                AssertRelative(Reference(a[i], b[j], [20, 20, 20]), c[Names[i], "m" + j], 1e-10, "definition");
            }
        Assert.Throws<ProbeException>(() => cross.OnBatch(new ActivationBatch(0, 1, null, new Dictionary<string, Matrix>(), new Dictionary<string, Matrix>())));
    }

    [Fact]
    public void SinglePrecisionBatchProductsAgreeWithDouble()
    {
        var layers = Layers(1200, 9);
        var wide = Map(Gaussian(1200, 300, 4, shift: 3), v => MathF.Max(0, v));
        using var d = new MinibatchCka(["x", "y", "z", "w"], precision: CkaPrecision.Double);
        using var s = new MinibatchCka(["x", "y", "z", "w"], precision: CkaPrecision.Single);
        for (int o = 0; o < 1200; o += 300)
        {
            var acts = new Dictionary<string, Matrix> { ["x"] = layers[0].Slice(o, 300), ["y"] = layers[1].Slice(o, 300), ["z"] = layers[2].Slice(o, 300), ["w"] = wide.Slice(o, 300) };
            d.Add(acts); s.Add(acts);
        }
        var a = d.Result(); var b = s.Result();
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                AssertRelative(a.Values[i][j], b.Values[i][j], 1e-6, $"[{i},{j}]");
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("rbf_0.4")]
    [InlineData("rbf_1.0")]
    public void MatchesANumPyImplementationOfTheSameEstimator(string key)
    {
        // Reference: tests/fixtures/minibatch_cka (NumPy, float64): three layers of 100 rows in batches of 32, 32, 32
        // and 4, HSIC1 per batch with its own n and, for RBF, its own median bandwidth.
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("minibatch_cka", "expected.json")));
        int batch = doc.RootElement.GetProperty("batch_size").GetInt32();
        var layers = new[] { "a", "b", "c" }.ToDictionary(n => n, n => ReferenceFixtures.Matrix("minibatch_cka", n + ".npy"));
        var kernel = key == "linear" ? CkaKernel.Linear : CkaKernel.Rbf;
        double frac = key == "linear" ? 0.4 : double.Parse(key[4..], System.Globalization.CultureInfo.InvariantCulture);
        using var acc = new MinibatchCka(["a", "b", "c"], kernel, frac, CkaPrecision.Double);
        for (int s = 0; s < 100; s += batch)
            acc.Add(layers.ToDictionary(kv => kv.Key, kv => kv.Value.Slice(s, Math.Min(batch, 100 - s))));
        Assert.Equal(4, acc.Batches);
        var expected = doc.RootElement.GetProperty(key);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                AssertRelative(expected[i][j].GetDouble(), acc.Result().Values[i][j], 1e-9, $"{key} [{i},{j}]");
        // the two-matrix entry point computes the same estimator
        AssertRelative(expected[0][1].GetDouble(), MinibatchCka.Compute(layers["a"], layers["b"], batch, kernel, frac, CkaPrecision.Double), 1e-9, "Compute");
    }
    /// <summary>
    /// Sums of the same layers at other widths (one part with a layer mean-reduced, the other flattened: same names, same
    /// number of sums) are refused; parts of the same widths merge into the definition over all batches.
    /// </summary>
    [Fact]
    public void StatesOfOtherLayerWidthsDoNotMerge()
    {
        var a = Layers(40, 3);
        var b = Layers(40, 4);
        using var first = new MinibatchCka(Names);
        first.Add(Names.Zip(a).ToDictionary(p => p.First, p => p.Second));
        using var same = new MinibatchCka(Names);
        same.Add(Names.Zip(b).ToDictionary(p => p.First, p => p.Second));
        using var merged = MinibatchCka.FromState(first.State());
        merged.Absorb(same.State());
        using var direct = new MinibatchCka(Names);
        direct.Add(Names.Zip(a).ToDictionary(p => p.First, p => p.Second));
        direct.Add(Names.Zip(b).ToDictionary(p => p.First, p => p.Second));
        Assert.Equal(direct.Result().Values, merged.Result().Values);
        // The same names, the middle layer 8 columns wide instead of 4.
        using var wider = new MinibatchCka(Names);
        wider.Add(new Dictionary<string, Matrix> { ["l0"] = b[0], ["l1"] = Gaussian(40, 8, 5), ["l2"] = b[2] });
        var e = Assert.Throws<ProbeException>(() => MinibatchCka.FromState(first.State()).Absorb(wider.State()));
        Assert.Contains("different widths (6, 4, 3 vs 6, 8, 3 columns)", e.Message);
    }
}

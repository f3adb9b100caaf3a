using Probe.Analysis;
using Probe.Capture;
using Xunit;

namespace Probe.Tests.Analysis;

public class SeparabilityTests
{
    private static readonly int[] Labels = TestNpy.ReadInt32("digits_labels.npy");

    // Reference: expected.json digits_mlp.per_layer.<layer>.separability_ratio (NumPy, double precision).
    [Fact]
    public void DigitsParity_SeparabilityRatio()
    {
        foreach (var layer in TestNpy.DigitsLayers)
        {
            var m = TestNpy.ReadMatrix($"digits_{layer}.npy");
            double expected = TestNpy.Layer(layer).GetProperty("separability_ratio").GetDouble();
            var r = new SeparabilityAnalyzer().Run(m, Labels, layer);
            Assert.True(Math.Abs(r.Ratio - expected) <= 1e-6 * expected, $"{layer}: {r.Ratio} vs {expected}");
            Assert.Equal(10, r.Classes.Length);
            Assert.Null(r.FisherTraceRatio);
        }
    }

    [Fact]
    public void Streaming_MatchesOneShot_IncludingFisher()
    {
        var m = TestNpy.ReadMatrix("digits_relu2.npy");
        var one = new SeparabilityAnalyzer(Fisher: true).Run(m, Labels, "relu2");
        var session = new SeparabilityAnalyzer(Fisher: true).Start();
        IActivationConsumer c = session;
        for (int s = 0; s < m.Rows; s += 97)
        {
            int n = Math.Min(97, m.Rows - s);
            c.OnBatch(new ActivationBatch(s, n, Labels[s..(s + n)], new Dictionary<string, Matrix> { ["relu2"] = m.Slice(s, n) }, new Dictionary<string, Matrix>()));
        }
        var st = session.Result().Single();
        Assert.Equal(one.ClassCounts, st.ClassCounts);
        Assert.Equal(one.Ratio, st.Ratio, 1e-10);
        Assert.Equal(one.FisherTraceRatio!.Value, st.FisherTraceRatio!.Value, 1e-8 * one.FisherTraceRatio.Value);
        Assert.Equal(16, st.FisherDroppedFeatures);  // the 16 dead units of relu2 are constant
        Assert.True(st.FisherTraceRatio > 0);
    }

    [Fact]
    public void Fisher_IsInvariantToRescalingAFeature()
    {
        var m = TestNpy.ReadMatrix("digits_fc3.npy");
        var a = new SeparabilityAnalyzer(Fisher: true).Run(m, Labels);
        var scaled = Matrix.Create(m.Rows, m.Cols, (i, j) => j == 4 ? m[i, j] * 1000f : m[i, j]);
        var b = new SeparabilityAnalyzer(Fisher: true).Run(scaled, Labels);
        Assert.Equal(a.FisherTraceRatio!.Value, b.FisherTraceRatio!.Value, 1e-6 * a.FisherTraceRatio.Value);
        Assert.NotEqual(a.Ratio, b.Ratio, 3);   // the isotropic ratio is not scale-invariant
    }

    [Fact]
    public void Fisher_OneFeature_ClosedForm()
    {
        // one feature: tr = S_b / (S_w (1 + lambda)), S_b = sum n_c (mu_c - mu)^2, S_w = sum of squared deviations.
        float[] x = [1, 2, 3, 10, 12, 14, 20, 21];
        int[] y = [0, 0, 0, 1, 1, 1, 2, 2];
        var r = new SeparabilityAnalyzer(Fisher: true, FisherLambda: 0.1).Run(new Matrix(8, 1, x), y);
        double mu = x.Average();
        double sb = 3 * Math.Pow(2 - mu, 2) + 3 * Math.Pow(12 - mu, 2) + 2 * Math.Pow(20.5 - mu, 2);
        double sw = 2 + 8 + 0.5;
        Assert.Equal(sb / (sw * 1.1), r.FisherTraceRatio!.Value, 1e-10);
        // and the isotropic ratio by hand: between = sb / N, within = mean of (2/3, 8/3, 0.25)
        Assert.Equal(sb / 8 / ((2.0 / 3 + 8.0 / 3 + 0.25) / 3 + 1e-10), r.Ratio, 1e-10);
    }

    [Fact]
    public void Errors()
    {
        var m = new Matrix(4, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Contains("two classes", Assert.Throws<UndefinedForDataException>(() => new SeparabilityAnalyzer().Run(m, [0, 0, 0, 0])).Message);
        Assert.Contains("labels", Assert.Throws<ProbeException>(() => new SeparabilityAnalyzer().Run(m, [0, 1, 1])).Message);
        Assert.Contains("single sample", Assert.Throws<UndefinedForDataException>(() => new SeparabilityAnalyzer().Run(m, [0, 1, 1, 1])).Message);
        var session = new SeparabilityAnalyzer().Start();
        Assert.Throws<ProbeException>(() => ((IActivationConsumer)session).OnBatch(new ActivationBatch(0, 4, null, new Dictionary<string, Matrix> { ["a"] = m }, new Dictionary<string, Matrix>())));
    }

    [Fact]
    public void Fisher_IsUndefinedWhenVaryingFeaturesExceedTheWithinClassDegreesOfFreedom()
    {
        // 12 samples of 3 classes: 9 within-class degrees of freedom. 10 varying features make the within-class scatter
        // singular (rank <= 9): the criterion is undefined, and the one-shot path refuses it before building the scatter.
        var rng = new Random(3);
        int[] y = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        var wide = new Matrix(12, 10, Enumerable.Range(0, 120).Select(_ => (float)rng.NextDouble()).ToArray());
        Assert.Contains("within-class degrees of freedom", Assert.Throws<ProbeException>(() => new SeparabilityAnalyzer(Fisher: true).Run(wide, y)).Message);
        var r = RepresentationStudy.Separability("wide", wide, y, fisher: true);
        Assert.Null(r.FisherTraceRatio);
        Assert.Equal(new SeparabilityAnalyzer().Run(wide, y).Ratio, r.Ratio);
        // 9 varying features plus 40 constant ones (dead units): 9 <= 9, so the criterion is defined and the same as
        // without the constant features.
        var nine = new float[12 * 49];
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < 9; j++) nine[i * 49 + j] = wide.Data[i * 10 + j];
        var narrow = new Matrix(12, 9, Enumerable.Range(0, 12).SelectMany(i => wide.Data.Skip(i * 10).Take(9)).ToArray());
        var withDead = RepresentationStudy.Separability("dead", new Matrix(12, 49, nine), y, fisher: true);
        var plain = RepresentationStudy.Separability("narrow", narrow, y, fisher: true);
        Assert.NotNull(withDead.FisherTraceRatio);
        Assert.Equal(40, withDead.FisherDroppedFeatures);
        Assert.Equal(plain.FisherTraceRatio!.Value, withDead.FisherTraceRatio!.Value, 1e-9 * plain.FisherTraceRatio.Value);
    }
}

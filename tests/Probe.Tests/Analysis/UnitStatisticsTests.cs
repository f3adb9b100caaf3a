using Probe.Analysis;
using Probe.Capture;
using Xunit;

namespace Probe.Tests.Analysis;

public class UnitStatisticsTests
{
    private static Matrix Digits(string layer) => TestNpy.ReadMatrix($"digits_{layer}.npy");

    // Reference: expected.json digits_mlp.per_layer.<layer>.{dead_units, dead_unit_fraction, sparsity} (NumPy).
    [Fact]
    public void DigitsParity_DeadUnitsAndSparsity()
    {
        var layers = TestNpy.DigitsLayers.ToDictionary(l => l, Digits);
        var report = new DeadUnitAnalyzer().Run(layers);
        foreach (var name in TestNpy.DigitsLayers)
        {
            var exp = TestNpy.Layer(name);
            var got = report.Layer(name);
            var expDead = exp.GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(expDead, got.DeadUnits);
            Assert.Equal(exp.GetProperty("dead_unit_fraction").GetDouble(), got.DeadFraction);
            Assert.Equal(exp.GetProperty("sparsity").GetDouble(), got.Sparsity);
            Assert.Equal(got.Sparsity, got.EpsilonSparsity);
        }
        // fc layers hold units that are never positive, but a Linear layer's unit is dead only when it is always zero.
        Assert.Equal(UnitActivation.Linear, report.Layer("fc2").Activation);
        Assert.Equal(UnitActivation.Rectified, report.Layer("relu2").Activation);
        Assert.Equal(report.Layer("relu2").DeadUnits, Enumerable.Range(0, 64).Where(j => report.Layer("fc2").UnitMax[j] <= 0));
    }

    private static (double Mean, double Std, double Min, double Max, long Zeros, int[] Pos) OneShot(Matrix m)
    {
        double sum = 0; foreach (var v in m.Data) sum += v;
        double mean = sum / m.Data.Length, ss = 0; foreach (var v in m.Data) ss += (v - mean) * (v - mean);
        var pos = new int[m.Cols];
        for (int i = 0; i < m.Rows; i++) for (int j = 0; j < m.Cols; j++) if (m[i, j] > 0) pos[j]++;
        return (mean, Math.Sqrt(ss / m.Data.Length), m.Data.Min(), m.Data.Max(), m.Data.LongCount(v => v == 0), pos);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(1797)]
    public void StreamingEqualsOneShot_ForAnyBatchSize(int batch)
    {
        foreach (var layer in new[] { "relu1", "fc3", "relu3" })
        {
            var m = Digits(layer);
            var acc = new UnitStatsAccumulator(m.Cols, UnitActivation.Auto, epsilon: 1e-3);
            for (int s = 0; s < m.Rows; s += batch) acc.Add(m.Slice(s, Math.Min(batch, m.Rows - s)));
            var r = acc.Result(layer);
            var whole = new UnitStatsAccumulator(m.Cols, UnitActivation.Auto, epsilon: 1e-3);
            whole.Add(m);
            var w = whole.Result(layer);
            var o = OneShot(m);
            Assert.Equal(w.DeadUnits, r.DeadUnits);
            Assert.Equal(w.DyingUnits, r.DyingUnits);
            Assert.Equal(w.FiringRates, r.FiringRates);
            Assert.Equal(w.Sparsity, r.Sparsity);
            Assert.Equal(w.EpsilonSparsity, r.EpsilonSparsity);
            Assert.Equal(o.Zeros / (double)m.Data.Length, r.Sparsity);
            Assert.Equal(o.Pos.Select(p => (float)((double)p / m.Rows)).ToArray(), r.FiringRates);
            Assert.Equal(o.Min, r.Min); Assert.Equal(o.Max, r.Max);
            Assert.Equal(o.Mean, r.Mean, 1e-12);
            Assert.Equal(o.Std, r.Std, 1e-12);
            Assert.True(r.EpsilonSparsity >= r.Sparsity);
        }
    }

    /// <summary>
    /// Feature maps far from zero (offset 1000, spread 1), in uneven batches, on one thread and on two, with channels of
    /// 150 positions (vectors of 16 and a masked tail), 7 (no whole vector), 13 (one vector of 8 and a tail) and 24:
    /// mean, std and the largest row norm equal a direct double computation over every value (the row norm comes from
    /// the shifted sums); each channel's maximum, firing rate and the layer's sparsity equal a direct count.
    /// </summary>
    [Theory]
    [InlineData(0.0, false, 150)]
    [InlineData(1000.0, false, 150)]
    [InlineData(1000.0, true, 150)]
    [InlineData(0.0, false, 7)]
    [InlineData(0.0, false, 13)]
    [InlineData(0.0, true, 24)]
    public void SpatialMomentsAndRowNormsEqualADirectComputation(double offset, bool parallel, int positions)
    {
        var rng = new Random(11);
        int rows = 300, units = 5; // with 150 positions the last batch, 179 x 750 values, is large enough to split
        var m = Matrix.Create(rows, units * positions, (_, _) => (float)(offset + (rng.NextDouble() < 0.3 ? 0 : rng.NextDouble() * 2 - 1)));
        var acc = new UnitStatsAccumulator(units, UnitActivation.Linear);
        foreach (var (start, n) in new[] { (0, 1), (1, 120), (121, 179) })
            Assert.Equal(0, acc.AddRows(m.Data.AsSpan(start * m.Cols, n * m.Cols), n, positions, parallel));
        var r = acc.Result("maps");
        double mean = m.Data.Average(v => (double)v);
        double std = Math.Sqrt(m.Data.Average(v => ((double)v - mean) * ((double)v - mean)));
        double norm = Enumerable.Range(0, rows).Max(i => Math.Sqrt(m.Row(i).ToArray().Sum(v => (double)v * v)));
        Assert.Equal(mean, r.Mean, Math.Max(1, offset) * 1e-13);
        Assert.True(Math.Abs(std - r.Std) <= 1e-10 * std, $"std {r.Std} vs {std}");
        Assert.True(Math.Abs(norm - r.MaxRowNorm) <= 1e-12 * norm, $"row norm {r.MaxRowNorm} vs {norm}");
        for (int c = 0; c < units; c++)
        {
            var channelMax = Enumerable.Range(0, rows).Select(i => m.Row(i).Slice(c * positions, positions).ToArray().Max()).ToArray();
            Assert.Equal(channelMax.Max(), r.UnitMax[c]);
            Assert.Equal((float)(channelMax.Count(v => v > 0) / (double)rows), r.FiringRates[c], 6);
        }
        Assert.Equal(m.Data.Count(v => v == 0) / (double)m.Data.Length, r.Sparsity, 12);
        // The layer's min and max are over every value (not the channels' maxima), also through a shard's state.
        Assert.Equal(m.Data.Min(), r.Min);
        Assert.Equal(m.Data.Max(), r.Max);
        Assert.Equal(m.Data.Min(), UnitStatsAccumulator.FromState(acc.State()).Result("maps").Min);
        // A non-finite value is counted, not added, and the accumulator refuses a result from then on.
        m.Data[5] = float.NaN;
        Assert.Equal(1, acc.AddRows(m.Data.AsSpan(0, m.Cols), 1, positions));
        Assert.Contains("non-finite", Assert.Throws<ProbeException>(() => acc.Result("maps")).Message);
    }

    [Fact]
    public void Consumer_MatchesDirectAdd_AndUsesModuleTypes()
    {
        var relu = Digits("relu2"); var fc = Digits("fc2");
        var session = new DeadUnitAnalyzer().Start();
        IActivationConsumer consumer = session;
        for (int s = 0; s < relu.Rows; s += 256)
        {
            int n = Math.Min(256, relu.Rows - s);
            consumer.OnBatch(new ActivationBatch(s, n, null,
                new Dictionary<string, Matrix> { ["relu2"] = relu.Slice(s, n) },
                new Dictionary<string, Matrix> { ["relu2"] = fc.Slice(s, n) }));
        }
        consumer.OnEnd([new LayerInfo("relu2", "ReLU", [64], 64, 0)]);
        var rep = session.Result();
        Assert.Equal(TestNpy.Layer("relu2").GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()), rep.Layer("relu2").DeadUnits);
        var pre = rep.Input("relu2")!;
        foreach (var d in rep.Layer("relu2").DeadUnits) Assert.True(pre.UnitMax[d] <= 0);
        Assert.Equal(-50.68706512451172, pre.Min, 1e-5);
    }

    [Fact]
    public void DyingAndSaturated()
    {
        // unit 0 fires on 1 of 200 samples (0.5% < 1%: dying), unit 1 never (dead), unit 2 always.
        var m = Matrix.Create(200, 3, (i, j) => j == 0 ? (i == 5 ? 1f : 0f) : j == 1 ? 0f : 1f + i);
        var r = new DeadUnitAnalyzer().Run(new Dictionary<string, Matrix> { ["a"] = m }).Layer("a");
        Assert.Equal([1], r.DeadUnits);
        Assert.Equal([0], r.DyingUnits);
        Assert.Equal(0.005f, r.FiringRates[0]);

        // sigmoid: unit 0 pinned at 0.999 on every sample, unit 1 at 0.5, unit 2 saturated on exactly 99% (not more).
        var s = Matrix.Create(100, 3, (i, j) => j == 0 ? 0.999f : j == 1 ? 0.5f : (i == 0 ? 0.5f : 0.001f));
        var rs = new DeadUnitAnalyzer(Activations: new Dictionary<string, UnitActivation> { ["s"] = UnitActivation.Sigmoid })
            .Run(new Dictionary<string, Matrix> { ["s"] = s }).Layer("s");
        Assert.Equal([0], rs.SaturatedUnits);
        Assert.Empty(rs.DeadUnits);
        // tanh with Auto resolved from the module type.
        var t = Matrix.Create(50, 2, (i, j) => j == 0 ? -0.995f : 0.1f);
        var acc = new UnitStatsAccumulator(2);
        acc.Add(t);
        Assert.Equal([0], acc.Result("t", moduleType: "Tanh").SaturatedUnits);
    }

    [Theory]
    [InlineData(UnitActivation.Sigmoid, false)]
    [InlineData(UnitActivation.Sigmoid, true)]
    [InlineData(UnitActivation.Tanh, false)]
    [InlineData(UnitActivation.Tanh, true)]
    public void SpatialMaps_AChannelIsSaturatedOnASampleOnlyWhenEveryPositionIs(UnitActivation kind, bool parallel)
    {
        // 4 channels x 5 positions on 4,000 samples (a large batch, so the two halves run when parallel is set).
        // Channel 0: one position at the top end, the others in the middle: its maximum is at an end, but four of its
        // five positions pass gradients, so it is not saturated. Channel 1: every position at an end, the two ends
        // mixed (saturated: no gradient anywhere). Channel 2: every position at the low end except on 1 sample in
        // 100 (saturated on 99%, not more: not saturated). Channel 3: at the top end everywhere (saturated).
        bool sig = kind == UnitActivation.Sigmoid;
        float top = sig ? 0.995f : 0.99f, low = sig ? 0.004f : -0.985f, mid = sig ? 0.6f : 0.2f;
        int n = 4000, c = 4, q = 5;
        var m = Matrix.Create(n, c * q, (i, j) => (j / q, j % q) switch
        {
            (0, 3) => top,
            (0, _) => mid,
            (1, var p) => p % 2 == 0 ? top : low,
            (2, var p) => i % 100 == 7 && p == 1 ? mid : low,
            _ => top,
        });
        var acc = new UnitStatsAccumulator(c, kind);
        acc.AddRows(m.Data, n, q, parallel);
        var r = acc.Result("act");
        Assert.Equal([1, 3], r.SaturatedUnits);
        Assert.Equal(new[] { 0f, 1f, 0.99f, 1f }, r.SaturationRates);
        // A dense layer of the same values, one position per unit, counts every value: the maps' rule on one position.
        var dense = new UnitStatsAccumulator(c * q, kind);
        dense.Add(m);
        var d = dense.Result("act");
        Assert.Equal(Enumerable.Range(0, c * q).Where(j => j / q != 0 && !(j / q == 2 && j % q == 1) || j == 3).ToArray(), d.SaturatedUnits);
    }

    [Fact]
    public void SpatialMaps_FireWhenAnyPositionPositive()
    {
        // 2 channels x 4 positions. Channel 0 positive at one position on sample 0 only; channel 1 never positive.
        var m = Matrix.Create(3, 8, (i, j) => j < 4 ? (i == 0 && j == 2 ? 2f : -1f) : (j == 4 ? 0f : -3f));
        var acc = new UnitStatsAccumulator(2);
        acc.AddSpatial(m, 4);
        var r = acc.Result("conv", moduleType: "ReLU");
        Assert.Equal(new[] { 1f / 3, 0f }, r.FiringRates);
        Assert.Equal([1], r.DeadUnits);
        Assert.Equal(3.0 / 24, r.Sparsity);   // over the full map: the three zeros at channel 1, position 0
        Assert.Equal(24, r.Values);
        Assert.Equal(-3, r.Min);              // every value, not the smallest channel maximum (-1)
        Assert.Equal(2, r.Max);
    }

    [Theory]
    [InlineData(UnitActivation.Linear)]
    [InlineData(UnitActivation.Auto)]
    public void SpatialMaps_ALinearChannelIsDeadOnlyWhenEveryPositionIsZero(UnitActivation activation)
    {
        // 3 channels x 3 positions (a bias-free conv over a zero border). Channel 0: maximum exactly 0 on every sample
        // (the border) but -1 or -2 inside: not zero, so not dead. Channel 1: zero everywhere: dead. Channel 2: 0, 0, 5.
        float[] rows =
        [
            0, -1, 0,   0, 0, 0,   0, 0, 5,
            0, 0, -2,   0, 0, 0,   0, 0, 5,
        ];
        var m = new Matrix(2, 9, rows);
        var acc = new UnitStatsAccumulator(3, activation);
        acc.AddSpatial(m, 3);
        var r = acc.Result("conv", moduleType: "Conv1d");
        Assert.Equal(UnitActivation.Linear, r.Activation);
        Assert.Equal([1], r.DeadUnits);
        Assert.Equal(-2, r.Min);
        // The same from two halves merged (shards), and from one row at a time.
        var a = new UnitStatsAccumulator(3, activation);
        a.AddSpatial(new Matrix(1, 9, rows[..9]), 3);
        var b = new UnitStatsAccumulator(3, activation);
        b.AddSpatial(new Matrix(1, 9, rows[9..]), 3);
        var merged = UnitStatsAccumulator.FromState(a.State());
        merged.Absorb(b.State());
        Assert.Equal([1], merged.Result("conv", moduleType: "Conv1d").DeadUnits);
        // Each half alone: channel 0 has a negative value in both.
        Assert.Equal([1], a.Result("conv", moduleType: "Conv1d").DeadUnits);
    }

    [Fact]
    public void SpatialMaps_WithNegativeValuesAreNotTakenForRectified()
    {
        // A residual add's output (type Add, activation Auto): every channel has a positive value on every sample, but
        // half of the values are negative. Judged by the smallest channel maximum it looked rectified (min >= 0).
        var m = Matrix.Create(4, 8, (i, j) => j % 2 == 0 ? 1f + i : -2f - j);
        var acc = new UnitStatsAccumulator(2);
        acc.AddSpatial(m, 4);
        var r = acc.Result("layer1.0.add", moduleType: "Add");
        Assert.Equal(UnitActivation.Linear, r.Activation);
        Assert.Equal(-9, r.Min);
        Assert.Equal(4, r.Max);
    }

    [Fact]
    public void Errors()
    {
        var acc = new UnitStatsAccumulator(3);
        Assert.Throws<ProbeException>(() => acc.Add(new Matrix(2, 4)));
        Assert.Throws<ProbeException>(() => acc.Result("x"));
        var bad = new Matrix(2, 3); bad[1, 2] = float.NaN;
        Assert.Contains("non-finite", Assert.Throws<ProbeException>(() => new UnitStatsAccumulator(3).Add(bad)).Message);
        Assert.Throws<ProbeException>(() => new UnitStatsAccumulator(3, epsilon: -1));
    }
}

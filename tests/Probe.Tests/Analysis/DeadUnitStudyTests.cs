using System.Text.Json;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Analysis;

public class DeadUnitStudyTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-dead-study-" + Guid.NewGuid().ToString("N"));

    public DeadUnitStudyTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    internal static Dataset DigitsInput() =>
        new("digits", Npy.ReadMatrix(TestNpy.Fixture("digits_input.npy")), null, [64]);

    internal static nn.Module<Tensor, Tensor> ReferenceMlp()
    {
        var m = ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(0);
        Weights.Load(m, TestNpy.Fixture("digits_mlp.safetensors"));
        return m;
    }

    static JsonElement Expected(string layer) => TestNpy.Layer(layer);

    /// <summary>
    /// Two halves of the digits collected with the reference weights merge into NumPy's dead units (expected.json);
    /// a half collected with other weights is refused, not merged into counts of no model.
    /// </summary>
    [Fact]
    public void PartsOfOneModelMergeIntoItsDeadUnitsAndPartsOfAnotherAreRefused()
    {
        var data = DigitsInput();
        var study = new DeadUnitStudy(BatchSize: 100);
        using var trained = new ModuleSource(ReferenceMlp(), ownsModel: true);
        using var other = new ModuleSource(ModelSpec.Parse("mlp:64-128-64-32-10:relu").Build(7), ownsModel: true);
        var a = study.Collect(trained, new Shard(0, 2).Slice(data, 100));
        var b = study.Collect(trained, new Shard(1, 2).Slice(data, 100));
        var merged = DeadUnitStudy.Finish(DeadUnitPartial.Merge([a, b]));
        foreach (var l in merged.Layers)
            Assert.Equal(Expected(l.Layer).GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()), l.Stats.DeadUnits);
        var e = Assert.Throws<ProbeException>(() => DeadUnitPartial.Merge([a, study.Collect(other, new Shard(1, 2).Slice(data, 100))]));
        Assert.Contains("made with different weights: layer 'relu1' is fed by 'fc1'", e.Message);
    }

    [Fact]
    public void ReferenceMlp_ReproducesExpectedDeadUnitsThroughCapture()
    {
        using var model = ReferenceMlp();
        var r = new DeadUnitStudy(BatchSize: 100).Run(model, DigitsInput());
        // Default selection: the activation layers, in firing order.
        Assert.Equal(["relu1", "relu2", "relu3"], r.Layers.Select(l => l.Layer));
        Assert.Equal(1797, r.Samples);
        foreach (var l in r.Layers)
        {
            // expected.json digits_mlp.per_layer.<layer>.dead_units / dead_unit_fraction / sparsity (NumPy on PyTorch's outputs).
            var exp = Expected(l.Layer);
            Assert.Equal(exp.GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()), l.Stats.DeadUnits);
            Assert.Equal(exp.GetProperty("dead_unit_fraction").GetDouble(), l.Stats.DeadFraction, 12);
            Assert.Equal(exp.GetProperty("sparsity").GetDouble(), l.Stats.Sparsity, 4);
            Assert.Equal("Linear", l.PrecedingType);
            Assert.Equal("fc" + l.Layer[^1], l.PrecedingLayer);
            Assert.Equal(l.Stats.DeadUnits, l.Causes.Select(c => c.Unit));
            // A dead unit's pre-activation never exceeds 0, and the cause is consistent with its numbers.
            foreach (var c in l.Causes)
            {
                Assert.True(c.MaxPreActivation <= 0, $"{l.Layer} unit {c.Unit}: max pre-activation {c.MaxPreActivation}");
                Assert.True(c.ReachableBound >= c.MaxPreActivation - 1e-4);
            }
        }
    }

    /// <summary>
    /// Every unit's largest pre-activation (read only for units that have not fired yet: a ReLU unit that fired has it
    /// in its output) equals the column maximum of PyTorch's own fc outputs on the same weights (digits_fc*.npy).
    /// </summary>
    [Theory]
    [InlineData(100)]
    [InlineData(7)]
    public void ReferenceMlp_MaxPreActivationsEqualPyTorchsFcOutputMaxima(int batch)
    {
        using var model = ReferenceMlp();
        var r = new DeadUnitStudy(BatchSize: batch).Run(model, DigitsInput());
        foreach (var l in r.Layers)
        {
            var fc = TestNpy.ReadMatrix($"digits_fc{l.Layer[^1]}.npy");
            var want = Enumerable.Range(0, fc.Cols).Select(u => Enumerable.Range(0, fc.Rows).Max(s => fc[s, u])).ToArray();
            Assert.NotNull(l.MaxPreActivation);
            for (int u = 0; u < want.Length; u++)
                Assert.True(Math.Abs(want[u] - l.MaxPreActivation![u]) <= 1e-4 * Math.Max(1, Math.Abs(want[u])), $"{l.Layer} unit {u}: {l.MaxPreActivation![u]} vs PyTorch {want[u]}");
        }
    }

    /// <summary>
    /// With batches of 7 as well: fc2's input rows are read only while relu2 has a unit that has not fired, so its dead
    /// units keep every batch read and the bound uses the largest input norm over all the data.
    /// </summary>
    [Theory]
    [InlineData(256)]
    [InlineData(7)]
    public void ReferenceMlp_BiasMinus50UnitsAreBiasCaused(int batch)
    {
        // SOURCE.md: the six first biases of fc2 were set to -50 before training, so relu2 units 0..5 are dead from birth.
        using var model = ReferenceMlp();
        var relu2 = new DeadUnitStudy(new LayerSelector("relu2"), BatchSize: batch).Run(model, DigitsInput()).Layer("relu2");
        var first6 = relu2.Causes.Where(c => c.Unit < 6).ToList();
        Assert.Equal([0, 1, 2, 3, 4, 5], first6.Select(c => c.Unit));
        Assert.All(first6, c => Assert.Equal(DeadUnitReason.BiasBelowReachableInput, c.Reason));
        Assert.All(first6, c => Assert.True(c.Bias < -40, $"bias {c.Bias}"));
        // The bound uses the largest norm of fc2's input (= relu1's output) over the data.
        var relu1 = ReferenceMlp();
        var relu1Out = new ActivationCapture(new LayerSelector("relu1")).ToMemory(relu1, DigitsInput())["relu1"];
        relu1.Dispose();
        double maxNorm = Enumerable.Range(0, relu1Out.Rows).Max(r => Math.Sqrt(relu1Out.Row(r).ToArray().Sum(v => (double)v * v)));
        Assert.Equal(maxNorm, first6[0].MaxInputNorm, 4);
        // Units that died in training (other reasons) are not blamed on the bias.
        Assert.Contains(relu2.Causes, c => c.Unit >= 6 && c.Reason == DeadUnitReason.AllPreActivationsNegative);
    }

    [Fact]
    public void Conv_ChannelFiresWhenAnyPositionIsPositive_AndNegativeBiasIsExplained()
    {
        var spec = ModelSpec.Parse("cnn:1x8x8:3:4-4-8:relu");
        using var model = spec.Build(3);
        using (no_grad())
        {
            var bias = model.named_parameters().First(p => p.name == "conv1.bias").parameter;
            bias[0] = tensor(-1000f);
        }
        var rng = new Random(5);
        var x = new float[40 * 64];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        var data = new Dataset("noise", new Matrix(40, 64, x), null, [1, 8, 8]);
        var r = new DeadUnitStudy(BatchSize: 16).Run(model, data);
        Assert.Equal(["relu1", "relu2", "relu3"], r.Layers.Select(l => l.Layer));
        var relu1 = r.Layer("relu1");
        Assert.Equal(4, relu1.Stats.Units);
        Assert.Equal(64, relu1.Positions);
        Assert.Equal("conv1", relu1.PrecedingLayer);
        Assert.Contains(0, relu1.Stats.DeadUnits);
        Assert.Equal(DeadUnitReason.BiasBelowReachableInput, relu1.Causes.Single(c => c.Unit == 0).Reason);

        // The rule against a direct computation on the full maps: rate = fraction of samples whose channel max is > 0;
        // sparsity = fraction of zero values over every position.
        var full = new ActivationCapture(new LayerSelector("relu1,relu2"), MapReduction.Flatten).ToMemory(model, data);
        foreach (var (name, channels) in new[] { ("relu1", 4), ("relu2", 4) })
        {
            var m = full[name];
            int pos = m.Cols / channels;
            var rates = Enumerable.Range(0, channels).Select(c =>
                (float)((double)Enumerable.Range(0, m.Rows).Count(s => Enumerable.Range(0, pos).Any(p => m[s, c * pos + p] > 0)) / m.Rows)).ToArray();
            Assert.Equal(rates, r.Layer(name).Stats.FiringRates);
            Assert.Equal(m.Data.Count(v => v == 0) / (double)m.Data.Length, r.Layer(name).Stats.Sparsity, 12);
        }
        // relu3 follows fc1 (a Linear fed by a flattened map): explained from fc1's weights.
        Assert.Equal("fc1", r.Layer("relu3").PrecedingLayer);

        // Each unit's largest pre-activation is the largest value of its full input maps, whether the model's hooks
        // read them in place (units that fired in an earlier batch skipped) or a source without hooks hands whole rows
        // after each batch (the default, its readers on all cores).
        var inputs = new ActivationCapture(new LayerSelector("relu1,relu2,relu3"), MapReduction.Flatten, IncludeInputs: true).ToMemory(model, data).Inputs;
        using var plain = new ModuleSource(model);
        var viaRows = new DeadUnitStudy(BatchSize: 16).Run(new WholeRowsSource(plain), data);
        foreach (var (name, channels) in new[] { ("relu1", 4), ("relu2", 4), ("relu3", 8) })
        {
            var m = inputs[name];
            int pos = m.Cols / channels;
            var want = Enumerable.Range(0, channels).Select(c => Enumerable.Range(0, m.Rows).SelectMany(s => Enumerable.Range(0, pos).Select(p => m[s, c * pos + p])).Max()).ToArray();
            Assert.Equal(want, r.Layer(name).MaxPreActivation);
            Assert.Equal(want, viaRows.Layer(name).MaxPreActivation);
            Assert.Equal(r.Layer(name).Stats.FiringRates, viaRows.Layer(name).Stats.FiringRates);
            Assert.Equal(r.Layer(name).Stats.Mean, viaRows.Layer(name).Stats.Mean, 12);
        }
    }

    /// <summary>
    /// A per-token model ([N, T, D] outputs, an in-place ReLU): a unit fires on a sample when any token's value is &gt; 0,
    /// its largest pre-activation is the largest over every token and sample, and sparsity counts every value; the same
    /// through the hooks and through whole rows after each batch.
    /// </summary>
    [Fact]
    public void SequenceOutputs_AreJudgedPerUnitOverTokens()
    {
        torch.manual_seed(4);
        using var model = nn.Sequential(("fc1", nn.Linear(4, 6)), ("relu1", nn.ReLU(inplace: true)), ("fc2", nn.Linear(6, 3)));
        using (no_grad())
        {
            var bias = model.named_parameters().First(p => p.name == "fc1.bias").parameter;
            bias[2] = tensor(-100f); // unit 2 never fires
        }
        var rng = new Random(8);
        const int tokens = 5;
        var data = new Dataset("tokens", Matrix.Create(30, tokens * 4, (_, _) => (float)(rng.NextDouble() * 2 - 1)), null, [tokens, 4]);
        var fc1 = new ActivationCapture(new LayerSelector("fc1"), MapReduction.Flatten).ToMemory(model, data)["fc1"];
        using var source = new ModuleSource(model);
        foreach (var r in new[] { new DeadUnitStudy(BatchSize: 7).Run(model, data), new DeadUnitStudy(BatchSize: 7).Run(new WholeRowsSource(source), data) })
        {
            var relu = r.Layer("relu1");
            Assert.Equal(6, relu.Stats.Units);
            Assert.Equal(tokens, relu.Positions);
            // fc1's output, token-major: value of unit u at token t of sample s is fc1[s, t * 6 + u].
            var rates = Enumerable.Range(0, 6).Select(u => (float)(Enumerable.Range(0, 30).Count(s => Enumerable.Range(0, tokens).Any(t => fc1[s, t * 6 + u] > 0)) / 30.0)).ToArray();
            Assert.Equal(rates, relu.Stats.FiringRates);
            Assert.Equal([2], relu.Stats.DeadUnits);
            var maxPre = Enumerable.Range(0, 6).Select(u => Enumerable.Range(0, 30).SelectMany(s => Enumerable.Range(0, tokens).Select(t => fc1[s, t * 6 + u])).Max()).ToArray();
            Assert.Equal(maxPre, relu.MaxPreActivation);
            Assert.Equal(fc1.Data.Count(v => v <= 0) / (double)fc1.Data.Length, relu.Stats.Sparsity, 12);
            Assert.Equal(DeadUnitReason.BiasBelowReachableInput, relu.Causes.Single().Reason);
        }
    }

    /// <summary>A source that only records whole rows: the study's per-site readers go through the default run.</summary>
    sealed class WholeRowsSource(IActivationSource inner) : IActivationSource
    {
        public string Description => inner.Description;
        public IReadOnlyList<SiteInfo> Sites => inner.Sites;
        public int[]? InputShape => inner.InputShape;
        public void Bind(IDataset data) => inner.Bind(data);
        public IActivationRun Start(IReadOnlyList<string> sites, MapReduction reduce, bool includeInputs) => inner.Start(sites, reduce, includeInputs);
        public SiteOrigin Origin(string site) => inner.Origin(site);
        public void Dispose() { }
    }

    [Fact]
    public void NonLinearPredecessor_GivesANoteInsteadOfCauses()
    {
        using var model = ReferenceMlp();
        // fc2's output, studied as a Linear layer, has no cause analysis; relu3 still has one.
        var r = new DeadUnitStudy(new LayerSelector("fc2,relu3")).Run(model, DigitsInput());
        Assert.Empty(r.Layer("fc2").Causes);
        Assert.Equal(UnitActivation.Linear, r.Layer("fc2").Stats.Activation);
        Assert.Empty(r.Layer("fc2").Stats.DeadUnits);
        Assert.Equal(5, r.Layer("relu3").Causes.Length);
    }

    [Fact]
    public void Timeline_OnATrainedRunFolder_IsConsistentWithPerCheckpointStudies()
    {
        var data = Synthetic.Blobs(n: 160, classes: 3, dims: 4, seed: 2);
        var run = new Trainer("sgd", Epochs: 3, BatchSize: 16, LearningRate: 0.5, Seed: 1, TestFraction: 0.25)
            .Train(ModelSpec.Parse("mlp:4-16-16-3:relu"), data, "synthetic:blobs", Path.Combine(_dir, "run"));
        var study = new DeadUnitStudy(BatchSize: 50);
        var t = study.RunCheckpoints(run, data);
        Assert.Equal([0, 1, 2, 3], t.Epochs);
        Assert.Equal(["relu1", "relu2"], t.Layers.Select(l => l.Layer));
        // This seeded run does kill units (SGD at lr 0.5), so the death records below are exercised.
        Assert.Contains(t.Layers, l => l.Deaths.Any(d => d.DeadAtEnd));
        for (int c = 0; c < t.Epochs.Length; c++)
        {
            using var model = run.BuildModel(t.Epochs[c]);
            var single = study.Run(model, data);
            foreach (var layer in t.Layers)
            {
                var s = single.Layer(layer.Layer).Stats;
                Assert.Equal(s.FiringRates, layer.FiringRates[c]);
                Assert.Equal(layer.FiringRates[c].Count(v => v == 0) / (double)layer.Units, layer.DeadFraction[c]);
                Assert.Equal(s.DyingFraction, layer.DyingFraction[c]);
                if (c == t.Epochs.Length - 1) Assert.Equal(s.DeadUnits, t.Final.Layer(layer.Layer).Stats.DeadUnits);
            }
        }
        foreach (var layer in t.Layers)
        {
            Assert.Equal(t.Final.Layer(layer.Layer).Stats.DeadUnits, layer.Deaths.Where(d => d.DeadAtEnd).Select(d => d.Unit));
            foreach (var d in layer.Deaths.Where(d => d.DeadAtEnd))
            {
                // Dead from the recorded checkpoint to the end, alive just before it (unless dead from initialisation).
                for (int c = d.DiedAtCheckpoint!.Value; c < t.Epochs.Length; c++) Assert.Equal(0f, layer.FiringRates[c][d.Unit]);
                if (d.DiedAtCheckpoint > 0) Assert.True(layer.FiringRates[d.DiedAtCheckpoint.Value - 1][d.Unit] > 0);
                Assert.Equal(d.DiedAtCheckpoint == 0, d.DeadFromInitialisation);
            }
            Assert.Equal(layer.Deaths.Count(d => d.DeadAtEnd), layer.DeadFromInitialisation + layer.DiedInTraining);
        }
    }

    /// <summary>
    /// Inside a TorchSharp model's hooks a large batch's statistics run in two halves on libtorch's OpenMP threads; on
    /// precomputed activations, after each batch on one thread. The digits CNN's first ReLU gives 256 x 512 values a
    /// batch (split in two): the study of the model and of the same values written as a capture folder agree to the
    /// bit, layer by layer, and the split batch is indeed the case.
    /// </summary>
    [Fact]
    public void HookedStudyEqualsTheStudyOfTheSameValuesToTheBit()
    {
        using var model = ModelSpec.Parse("cnn:8x8:10").Build(3);
        var data = Datasets.Digits();
        string cap = Path.Combine(_dir, "cap");
        var summary = Capture.PrecomputedSourceTests.WriteFlattenCapture(model, data, "relu*", cap);
        Assert.True(256 * summary.Layers.Single(l => l.Name == "relu1").Features >= UnitStatsAccumulator.ParallelThreshold);
        var study = new DeadUnitStudy(new LayerSelector("relu*"), BatchSize: 256);
        var hooked = study.Run(model, data);
        using var stored = PrecomputedSource.Open(cap);
        var read = study.Run(stored, stored.Rows);
        Assert.Equal(hooked.Layers.Select(l => l.Layer), read.Layers.Select(l => l.Layer));
        foreach (var (h, r) in hooked.Layers.Zip(read.Layers))
        {
            Assert.Equal(h.Positions, r.Positions);
            Assert.Equal(BitConverter.DoubleToInt64Bits(h.Stats.Mean), BitConverter.DoubleToInt64Bits(r.Stats.Mean));
            Assert.Equal(BitConverter.DoubleToInt64Bits(h.Stats.Std), BitConverter.DoubleToInt64Bits(r.Stats.Std));
            Assert.Equal(h.Stats.MaxRowNorm, r.Stats.MaxRowNorm);
            Assert.Equal(h.Stats.Sparsity, r.Stats.Sparsity);
            Assert.Equal(h.Stats.FiringRates, r.Stats.FiringRates);
            Assert.Equal(h.Stats.UnitMax, r.Stats.UnitMax);
            Assert.Equal(h.Stats.DeadUnits, r.Stats.DeadUnits);
        }
    }
}

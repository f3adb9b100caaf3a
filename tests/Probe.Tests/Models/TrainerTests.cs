using System.Text.Json;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

[Collection(SerialTorchCollection.Name)]
public class TrainerTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-trainer-" + Guid.NewGuid().ToString("N"));

    public TrainerTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The 1,797 digits (pixels / 16) and labels from the fixtures.</summary>
    static Dataset Digits() => ReferenceFixtures.Digits();

    string Dir(string name) => Path.Combine(_dir, name);

    static double Accuracy(nn.Module<Tensor, Tensor> m, Dataset data, IReadOnlyList<int> rows)
    {
        using var scope = NewDisposeScope();
        using var g = no_grad();
        var sub = data.Subset(rows);
        var pred = m.call(tensor(sub.Features.Data, [sub.Count, sub.Features.Cols])).argmax(1).data<long>().ToArray();
        return pred.Zip(sub.Labels!).Count(p => p.First == p.Second) / (double)sub.Count;
    }

    [Fact]
    public void Mlp_learns_digits_and_writes_a_run_folder()
    {
        var data = Digits();
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        var trainer = new Trainer("adam", Epochs: 4, BatchSize: 32, LearningRate: 3e-3, Seed: 1, TestFraction: 0.2);
        var run = trainer.Train(spec, data, "digits", Dir("run"));

        Assert.Equal([0, 1, 2, 3, 4], run.Checkpoints.Select(c => c.Epoch));
        Assert.All(run.Checkpoints, c => Assert.Equal(["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "fc3.bias", "fc3.weight", "fc4.bias", "fc4.weight"], FileAssert.SafeTensors(Path.Combine(run.Directory, c.File)).Order()));
        Assert.Equal("checkpoints/epoch-000.safetensors", run.Checkpoints[0].File);
        Assert.Equal(359, run.Info.Split.TestIndices.Length); // round(0.2 * 1797 = 359.4)
        Assert.True(run.Checkpoints[0].TestAccuracy < 0.3, $"untrained accuracy {run.Checkpoints[0].TestAccuracy}");
        Assert.True(run.Checkpoints[^1].TestAccuracy > 0.9, $"test accuracy {run.Checkpoints[^1].TestAccuracy}");
        Assert.True(run.Checkpoints[^1].TrainLoss < run.Checkpoints[0].TrainLoss);

        var loaded = RunFolder.Load(Dir("run"));
        Assert.Equal(spec, loaded.Spec);
        Assert.Equal("digits", loaded.Info.Data);
        Assert.Equal(run.Info.Split.TestIndices, loaded.Info.Split.TestIndices);
        Assert.Equal(1797 - 359, loaded.TrainIndices.Length);
        Assert.Equal(run.Checkpoints.Select(c => c.TestAccuracy), loaded.Checkpoints.Select(c => c.TestAccuracy));

        // A model rebuilt from a checkpoint reproduces the recorded accuracies.
        foreach (var epoch in new[] { 0, 4 })
        {
            using var m = loaded.BuildModel(epoch);
            Assert.Equal(loaded.Checkpoint(epoch).TestAccuracy!.Value, Accuracy(m, data, loaded.Info.Split.TestIndices), 12);
            Assert.Equal(loaded.Checkpoint(epoch).TrainAccuracy, Accuracy(m, data, loaded.TrainIndices), 12);
        }
        Assert.Contains("available epochs: 0, 1, 2, 3, 4", Assert.Throws<ProbeArgumentException>(() => loaded.BuildModel(9)).Message);
    }

    [Fact]
    public void Same_seed_gives_byte_identical_runs_and_another_seed_differs()
    {
        var data = Digits().Subset(Enumerable.Range(0, 400).ToArray());
        var spec = ModelSpec.Parse("mlp:64-32-10:relu");
        var t = new Trainer("sgd", Epochs: 2, BatchSize: 16, LearningRate: 0.05, Seed: 5) { Momentum = 0.9 };
        t.Train(spec, data, "digits[:400]", Dir("a"));
        t.Train(spec, data, "digits[:400]", Dir("b"));
        (t with { Seed = 6 }).Train(spec, data, "digits[:400]", Dir("c"));
        foreach (var f in new[] { "run.json", "checkpoints/epoch-000.safetensors", "checkpoints/epoch-001.safetensors", "checkpoints/epoch-002.safetensors" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(Dir("a"), f)), File.ReadAllBytes(Path.Combine(Dir("b"), f)));
            Assert.NotEqual(File.ReadAllBytes(Path.Combine(Dir("a"), f)), File.ReadAllBytes(Path.Combine(Dir("c"), f)));
        }
        // Training changes the weights; the epoch-0 file holds the initial ones.
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(Dir("a"), "checkpoints/epoch-000.safetensors")),
                        File.ReadAllBytes(Path.Combine(Dir("a"), "checkpoints/epoch-002.safetensors")));
        using var init = spec.Build(5);
        using var fromFile = RunFolder.Load(Dir("a")).BuildModel(0);
        var ei = Weights.Export(init); var ef = Weights.Export(fromFile);
        for (int i = 0; i < ei.Count; i++) Assert.Equal(ei[i].Data, ef[i].Data);
    }

    [Fact]
    public void Callback_runs_every_k_epochs_and_its_extras_land_in_run_json()
    {
        var data = Digits().Subset(Enumerable.Range(0, 300).ToArray());
        var seen = new List<int>();
        var t = new Trainer(Epochs: 5, BatchSize: 50, Seed: 2)
        {
            CallbackEvery = 2,
            OnCheckpoint = ctx =>
            {
                seen.Add(ctx.Epoch);
                Assert.True(File.Exists(ctx.CheckpointPath));
                Assert.False(ctx.Model.training);
                ctx.Extra["probe_accuracy"] = 0.25 * ctx.Epoch;
                ctx.Extra["layers"] = new[] { "fc1", "relu1" };
            },
        };
        var run = t.Train(ModelSpec.Parse("mlp:64-16-10"), data, "digits", Dir("cb"));
        Assert.Equal([0, 2, 4, 5], seen);
        var loaded = RunFolder.Load(Dir("cb"));
        var e4 = loaded.Checkpoint(4).Extra;
        Assert.Equal(1.0, ((JsonElement)e4["probe_accuracy"]!).GetDouble());
        Assert.Equal("relu1", ((JsonElement)e4["layers"]!)[1].GetString());
        Assert.Empty(loaded.Checkpoint(1).Extra);
    }

    [Fact]
    public void Given_split_is_used_and_recorded()
    {
        var data = Digits().Subset(Enumerable.Range(0, 200).ToArray());
        int[] test = [5, 1, 7, 100];
        // conv2 has 8 channels again (4-8-16, the spec for which a NaN loss was once reported and worked around with 16):
        // that NaN never reproduced at the commit that recorded it nor since; CnnTrainingNaNTests trains this CNN 50
        // times under memory churn.
        var run = new Trainer(Epochs: 1, Seed: 0) { TestIndices = test }.Train(ModelSpec.Parse("cnn:8x8:10:4-8-16"), data, "digits", Dir("split"));
        Assert.Equal([1, 5, 7, 100], run.Info.Split.TestIndices);
        Assert.True(run.Info.Split.Given);
        Assert.Equal(196, RunFolder.Load(Dir("split")).TrainIndices.Length);
    }

    [Fact]
    public void Bad_settings_fail_clearly()
    {
        var data = Digits().Subset(Enumerable.Range(0, 50).ToArray());
        var mlp = ModelSpec.Parse("mlp:64-10");
        Assert.Contains("valid optimizers: adam, sgd", Assert.Throws<ProbeException>(() => new Trainer("rmsprop").Train(mlp, data, "d", Dir("x"))).Message);
        Assert.Contains("takes 32 values", Assert.Throws<ProbeException>(() => new Trainer().Train(ModelSpec.Parse("mlp:32-10"), data, "d", Dir("x"))).Message);
        Assert.Contains("only 5 outputs", Assert.Throws<ProbeException>(() => new Trainer().Train(ModelSpec.Parse("mlp:64-5"), data, "d", Dir("x"))).Message);
        Assert.Contains("[0, 50)", Assert.Throws<ProbeException>(() => new Trainer { TestIndices = [50] }.Train(mlp, data, "d", Dir("x"))).Message);
        Assert.Contains("no run.json", Assert.Throws<ProbeException>(() => RunFolder.Load(Dir("nothing"))).Message);
    }
}

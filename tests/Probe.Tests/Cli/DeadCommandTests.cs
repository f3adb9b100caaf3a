using System.Text.Json;
using Probe.Cli;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Cli;

public class DeadCommandTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-dead-cli-" + Guid.NewGuid().ToString("N"));

    public DeadCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }

    static string Fixture(string name) => ReferenceFixtures.Shared(name);

    static readonly string[] Reference =
        ["dead", "--model", "mlp:64-128-64-32-10:relu", "--weights", Fixture("digits_mlp.safetensors"), "--data", "npy:" + Fixture("digits_input.npy")];

    static (int Code, string Out, string Err) Run(params string[] args) => Cli.Run(args);

    [Fact]
    public void FailAbove_ExitsThreeAndNamesTheLayers()
    {
        // expected.json dead_unit_fraction: relu1 0.117, relu2 0.25, relu3 0.156.
        var (code, output, err) = Run([.. Reference, "--fail-above", "0.2"]);
        Assert.Equal(ExitCodes.ThresholdExceeded, code);
        Assert.Contains("relu2", err);
        Assert.DoesNotContain("relu1", err);
        Assert.Contains("relu3", output); // the table still lists every layer
        Assert.Contains("6 bias too low", output);
    }

    [Fact]
    public void BelowThreshold_ExitsZero()
    {
        var (code, output, err) = Run([.. Reference, "--fail-above", "0.3"]);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", err);
        Assert.Contains("dead fraction", output);
    }

    [Fact]
    public void Json_ParsesAndHasDeadUnitsAndCauses()
    {
        var (code, output, _) = Run([.. Reference, "--json", "--layers", "relu2"]);
        Assert.Equal(ExitCodes.Ok, code);
        var root = JsonDocument.Parse(output).RootElement;
        var layer = root.GetProperty("layers").EnumerateArray().Single();
        Assert.Equal("relu2", layer.GetProperty("layer").GetString());
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 8, 12, 18, 27, 33, 37, 43, 48, 59, 62 }, // expected.json digits_mlp.per_layer.relu2.dead_units
            layer.GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        var causes = layer.GetProperty("causes").EnumerateArray().ToList();
        Assert.All(causes.Take(6), c => Assert.Equal("BiasBelowReachableInput", c.GetProperty("reason").GetString()));
        Assert.Equal(64, layer.GetProperty("firingRateHistogram").GetProperty("counts").EnumerateArray().Sum(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("timeline").ValueKind);
    }

    [Theory]
    [InlineData("dead", "--data", "digits")]                                                     // neither --model nor --run
    [InlineData("dead", "--model", "mlp:64-10", "--data", "digits")]                              // --model without --weights
    [InlineData("dead", "--run", "x", "--model", "mlp:64-10", "--weights", "w", "--data", "digits")] // both
    [InlineData("dead", "--model", "mlp:64-10", "--weights", "w", "--data", "digits", "--fail-above", "2")]
    [InlineData("dead", "--model", "mlp:64-10", "--weights", "w", "--data", "digits", "--fail-above", "abc")]
    [InlineData("dead", "--run", "x", "--bogus")]
    public void BadArguments_ExitTwo(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.StartsWith("probe: ", err);
    }

    [Fact]
    public void MissingWeightsFile_ExitsTwo()
    {
        var (code, _, err) = Run("dead", "--model", "mlp:64-128-64-32-10:relu", "--weights", Path.Combine(_dir, "nope.safetensors"), "--data", "digits");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("does not exist", err);
        Assert.Contains("nope.safetensors", err);
    }

    [Fact]
    public void MissingRunFolder_ExitsTwo()
    {
        var (code, _, err) = Run("dead", "--run", Path.Combine(_dir, "no-run"));
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("does not exist", err);
    }

    [Fact]
    public void Run_WithOut_WritesTimelineAndReport()
    {
        var data = Synthetic.Blobs(n: 120, classes: 3, dims: 4, seed: 1);
        var run = new Trainer("sgd", Epochs: 2, BatchSize: 16, LearningRate: 0.3, Seed: 0, TestFraction: 0.25)
            .Train(ModelSpec.Parse("mlp:4-8-3:relu"), data, "synthetic:blobs?n=120&dims=4&seed=1", Path.Combine(_dir, "run"));
        string report = Path.Combine(_dir, "report");
        var (code, output, err) = Run("dead", "--run", run.Directory, "--json", "--out", report);
        Assert.True(code == ExitCodes.Ok, err);
        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal(new[] { 0, 1, 2 }, root.GetProperty("timeline").GetProperty("epochs").EnumerateArray().Select(e => e.GetInt32()));
        var rates = root.GetProperty("timeline").GetProperty("layers")[0].GetProperty("firingRatesByCheckpoint");
        Assert.Equal(3, rates.GetArrayLength());
        Assert.Equal(8, rates[0].GetArrayLength());
        string index = File.ReadAllText(Path.Combine(report, "index.html"));
        foreach (var figure in new[] { "figures/dead-units-relu1-timeline.png", "figures/dead-units-dead-fraction-over-training.png" })
        {
            Assert.Contains(figure, index);
            FileAssert.Png(Path.Combine(report, figure));
        }
        Assert.Contains("dead_fraction", File.ReadAllText(Path.Combine(report, "report.json")));
    }

    /// <summary>
    /// Since which checkpoint a unit is dead was only in --json (diedAtEpoch): the text gave counts (dead from init, died
    /// in training, revived). It now names the units per epoch they died at, and the units that came back. Reference:
    /// fixtures/dead/run (PyTorch checkpoints of mlp:20-6-3:relu) and NumPy's firing rates per checkpoint (run_deaths.json).
    /// </summary>
    [Fact]
    public void RunTextSaysSinceWhichCheckpointEachUnitIsDead()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "run_deaths.json"))).RootElement;
        var units = reference.GetProperty("relu1").EnumerateArray().ToList();
        string since = string.Join("; ", units.Where(u => u.GetProperty("diedAtEpoch").ValueKind == JsonValueKind.Number)
            .GroupBy(u => u.GetProperty("diedAtEpoch").GetInt32()).OrderBy(g => g.Key)
            .Select(g => $"since epoch {g.Key}{(g.Key == 0 ? " (the first checkpoint)" : "")}: {string.Join(" ", g.Select(u => u.GetProperty("unit").GetInt32()))}"));
        string revived = string.Join(" ", units.Where(u => u.GetProperty("revivals").GetInt32() > 0).Select(u => u.GetProperty("unit").GetInt32()));
        Assert.Equal("since epoch 0 (the first checkpoint): 5; since epoch 1: 0; since epoch 2: 2; since epoch 4: 3", since);

        string run = Path.GetDirectoryName(ReferenceFixtures.Path("dead", "run/run.json"))!;
        var (code, output, err) = Run("dead", "--run", run, "--data", "npy:" + ReferenceFixtures.Path("dead", "x.npy"));
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Contains($"relu1: dead {since}; revived after being dead: {revived}" + Environment.NewLine, output);

        var (_, json, _) = Run("dead", "--run", run, "--data", "npy:" + ReferenceFixtures.Path("dead", "x.npy"), "--json");
        var layer = JsonDocument.Parse(json).RootElement.GetProperty("timeline").GetProperty("layers")[0];
        var rates = layer.GetProperty("firingRatesByCheckpoint").EnumerateArray().Select(c => c.EnumerateArray().Select(r => r.GetDouble()).ToArray()).ToArray();
        foreach (var u in units)
            Assert.Equal(u.GetProperty("rates").EnumerateArray().Select(r => r.GetDouble()), rates.Select(c => c[u.GetProperty("unit").GetInt32()]), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    /// <summary>
    /// Which units are dying or saturated was only in --json, and the sigmoid's saturation rates nowhere: the text gave
    /// their counts. It now lists them, and --json gives saturationRates. Reference: PyTorch's firing rates of relu1 and
    /// saturation rates of the sigmoid (fixtures/dead/sig_dying.json).
    /// </summary>
    [Fact]
    public void TextListsDyingAndSaturatedUnitsAsPyTorchFindsThem()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "sig_dying.json"))).RootElement;
        var firing = reference.GetProperty("relu1_firing").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var saturation = reference.GetProperty("sig_saturation").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var dying = Enumerable.Range(0, firing.Length).Where(u => firing[u] > 0 && firing[u] < 0.05).ToArray();
        var saturated = Enumerable.Range(0, saturation.Length).Where(u => saturation[u] > 0.99).ToArray();
        Assert.Equal([0, 4], dying);
        Assert.Equal([1, 2], saturated);

        string[] args = ["dead", "--model", ReferenceFixtures.Path("dead", "sig_dying.onnx"), "--data", "npy:" + ReferenceFixtures.Path("dead", "x.npy"), "--dying-threshold", "0.05"];
        var (code, output, err) = Run(args);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Contains($"relu1: dying units {string.Join(" ", dying)}" + Environment.NewLine, output);
        Assert.Contains($"sig: saturated units {string.Join(" ", saturated)}" + Environment.NewLine, output);

        var (_, json, _) = Run([.. args, "--json"]);
        var layers = JsonDocument.Parse(json).RootElement.GetProperty("layers");
        Assert.Equal(firing, layers[0].GetProperty("firingRates").EnumerateArray().Select(e => e.GetDouble()), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Equal(JsonValueKind.Null, layers[0].GetProperty("saturationRates").ValueKind);
        Assert.Equal(saturation, layers[1].GetProperty("saturationRates").EnumerateArray().Select(e => e.GetDouble()), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    /// <summary>
    /// probe dead --run judged units on every row of the run's data, so a unit dead on the rows the model trained on but
    /// firing on held-out ones showed as alive, with no way to ask about either split. --split train|test|all picks the
    /// run's rows. Reference: fixtures/dead/run, whose relu1 unit 4 fires at the last checkpoint only on 3 test rows
    /// (NumPy's dead units per split in run_deaths.json).
    /// </summary>
    [Fact]
    public void RunSplitJudgesUnitsOnTheTrainOrTestRows()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "run_deaths.json"))).RootElement.GetProperty("final_dead");
        // The run as committed names its data relatively; a copy names the fixture's x.npy in full.
        string fixture = Path.GetDirectoryName(ReferenceFixtures.Path("dead", "run/run.json"))!, run = Path.Combine(_dir, "run");
        Directory.CreateDirectory(Path.Combine(run, "checkpoints"));
        foreach (var f in Directory.GetFiles(Path.Combine(fixture, "checkpoints"))) File.Copy(f, Path.Combine(run, "checkpoints", Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(run, "run.json"), File.ReadAllText(Path.Combine(fixture, "run.json"))
            .Replace("\"npy:x.npy\"", JsonSerializer.Serialize("npy:" + ReferenceFixtures.Path("dead", "x.npy"))));
        foreach (var part in new[] { "train", "test", "all" })
        {
            var (code, output, err) = Run("dead", "--run", run, "--split", part, "--json");
            Assert.True(code == ExitCodes.Ok, err);
            var root = JsonDocument.Parse(output).RootElement;
            Assert.Equal(expected.GetProperty(part).EnumerateArray().Select(e => e.GetInt32()),
                root.GetProperty("layers")[0].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        }
        Assert.Contains(4, expected.GetProperty("train").EnumerateArray().Select(e => e.GetInt32()));
        Assert.DoesNotContain(4, expected.GetProperty("test").EnumerateArray().Select(e => e.GetInt32()));
        var (_, text, _) = Run("dead", "--run", run, "--split", "train");
        Assert.Contains("on its train rows", text);
        Assert.Equal(ExitCodes.Usage, Run("dead", "--run", run, "--split", "test", "--data", "npy:" + ReferenceFixtures.Path("dead", "x.npy")).Code);
        Assert.Equal(ExitCodes.Usage, Run("dead", "--run", run, "--split", "held-out").Code);
    }

    /// <summary>
    /// LeakyReLU activations saved from PyTorch with no layers.json: the layer's type is unknown and its values are
    /// negative, so it is judged as a linear layer (dead = exactly 0), and "0 dead" was all the user read, where PyTorch
    /// finds two units never &gt; 0 (fixtures/dead/leaky.json). The result now says how it was judged and how to give the
    /// type; with the type in layers.json the dead units are PyTorch's.
    /// </summary>
    [Fact]
    public void ActsDirLayerOfUnknownTypeWithNegativeValuesSaysItWasJudgedAsLinear()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "leaky.json"))).RootElement;
        var neverPositive = reference.GetProperty("never_positive").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal([2, 6], neverPositive);
        Assert.True(reference.GetProperty("min").GetDouble() < 0);
        File.Copy(ReferenceFixtures.Path("dead", "leaky/leaky_relu1.npy"), Path.Combine(_dir, "leaky_relu1.npy"));

        var (code, output, err) = Run("dead", "--acts-dir", _dir);
        Assert.True(code == ExitCodes.Ok, err);
        Assert.Contains("leaky_relu1: its type is not known and it has values < 0, so it was judged as a linear layer", output);
        var (_, json, _) = Run("dead", "--acts-dir", _dir, "--json");
        var layer = JsonDocument.Parse(json).RootElement.GetProperty("layers")[0];
        Assert.Equal("Linear", layer.GetProperty("activation").GetString());
        Assert.Contains("layers.json", layer.GetProperty("activationNote").GetString());

        File.WriteAllText(Path.Combine(_dir, "layers.json"), """{"layers": [{"name": "leaky_relu1", "type": "LeakyReLU", "file": "leaky_relu1.npy", "outputShape": [8]}]}""");
        (_, json, _) = Run("dead", "--acts-dir", _dir, "--json");
        layer = JsonDocument.Parse(json).RootElement.GetProperty("layers")[0];
        Assert.Equal(neverPositive, layer.GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, layer.GetProperty("activationNote").ValueKind);
    }

    /// <summary>
    /// A layer after an all-dead layer reads zeros, so its units with bias &lt;= 0 are dead; they read "bias too low ...
    /// x max ||x|| 0: no input as large as the data's can switch it on", pointing at the bias where the cause is the
    /// silent layer before. They are now "input always 0". Reference: PyTorch's dead units, fc2's biases and input norm
    /// (fixtures/dead/all_dead.json).
    /// </summary>
    [Fact]
    public void UnitsAfterAnAllDeadLayerAreDeadForTheirZeroInput()
    {
        var reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "all_dead.json"))).RootElement;
        var bias = reference.GetProperty("fc2_bias").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal(0, reference.GetProperty("fc2_max_input_norm").GetDouble());
        string[] args = ["dead", "--model", "mlp:20-8-6-3:relu", "--weights", ReferenceFixtures.Path("dead", "all_dead.pt"), "--data", "npy:" + ReferenceFixtures.Path("dead", "x.npy")];
        var (code, json, err) = Run([.. args, "--json"]);
        Assert.True(code == ExitCodes.Ok, err);
        var layers = JsonDocument.Parse(json).RootElement.GetProperty("layers");
        Assert.Equal(reference.GetProperty("relu1_dead").EnumerateArray().Select(e => e.GetInt32()), layers[0].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        var dead = reference.GetProperty("relu2_dead").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(dead, layers[1].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        foreach (var c in layers[1].GetProperty("causes").EnumerateArray())
        {
            Assert.Equal("InputAlwaysZero", c.GetProperty("reason").GetString());
            Assert.Equal(0, c.GetProperty("maxInputNorm").GetDouble());
            Assert.Equal(bias[c.GetProperty("unit").GetInt32()], c.GetProperty("bias").GetDouble(), 1e-6);
        }
        var (_, text, _) = Run(args);
        Assert.Contains($"{dead.Length} input always 0", text);
        Assert.Contains($"unit {dead[0]}: every input it reads is 0 on the data", text);
    }

    [Fact]
    public void ActsDirOfPyTorchOutputsNeedsNoModelAndGivesNumPysDeadUnits()
    {
        foreach (var layer in new[] { "relu1", "relu2", "relu3" })
            File.Copy(Fixture($"digits_{layer}.npy"), Path.Combine(_dir, layer + ".npy"));
        var (code, output, err) = Run("dead", "--acts-dir", _dir, "--json");
        Assert.True(code == 0, err);
        var layers = JsonDocument.Parse(output).RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(new[] { "relu1", "relu2", "relu3" }, layers.Select(l => l.GetProperty("layer").GetString()));
        // expected.json digits_mlp.per_layer.relu2.dead_units (NumPy on PyTorch's outputs).
        Assert.Equal(new[] { 0, 1, 2, 3, 4, 5, 8, 12, 18, 27, 33, 37, 43, 48, 59, 62 },
            layers[1].GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void AnOnnxModelWithASecondInputTakesItAsAnArray()
    {
        // make_onnx.py's two.onnx: act = relu(lin(x) + mean(emb(ids))), x fed by the data, ids by --input. PyTorch's act
        // (two_act.npy, [16, 4]): a unit is dead when it is 0 on every sample.
        string Onnx(string f) => Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", f);
        var act = Npy.ReadMatrix(Onnx("two_act.npy"));
        var dead = Enumerable.Range(0, act.Cols).Where(u => Enumerable.Range(0, act.Rows).All(r => act[r, u] <= 0)).ToArray();
        var (code, output, err) = Run("dead", "--model", Onnx("two.onnx"), "--data", "npy:" + Onnx("two_x.npy"), "--input", "ids=" + Onnx("two_ids.npy"), "--layers", "act", "--json");
        Assert.True(code == 0, err);
        var layer = JsonDocument.Parse(output).RootElement.GetProperty("layers")[0];
        Assert.Equal(dead, layer.GetProperty("deadUnits").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(16, JsonDocument.Parse(output).RootElement.GetProperty("samples").GetInt32());
        // Without it, the one line says what to give.
        var (missing, _, why) = Run("dead", "--model", Onnx("two.onnx"), "--data", "npy:" + Onnx("two_x.npy"), "--layers", "act");
        Assert.Equal(ExitCodes.Failure, missing);
        Assert.Contains("--input NAME=FILE.npy", why);
        Assert.Contains("missing: ids", why);
        // A model spec has no graph inputs to feed.
        Assert.Equal(ExitCodes.Usage, Run("dead", "--model", "mlp:3-4:relu", "--random-weights", "--data", "npy:" + Onnx("two_x.npy"), "--input", "ids=" + Onnx("two_ids.npy")).Code);
        // A name the graph does not have is a bad value (exit 2), its inputs listed.
        var (typo, _, typoWhy) = Run("dead", "--model", Onnx("two.onnx"), "--data", "npy:" + Onnx("two_x.npy"), "--input", "idz=" + Onnx("two_ids.npy"), "--layers", "act");
        Assert.Equal(ExitCodes.Usage, typo);
        Assert.Contains("has no input 'idz'. Its inputs: 'x', 'ids'.", typoWhy);
    }

    [Fact]
    public void EpsilonCountsTheValuesWithinItOfZero()
    {
        // 4 samples x 3 units; |x| <= 0.25: 0, 0.25, -0.1, 0.2, 0 (5 of 12); exact zeros: 2 of 12.
        Probe.Data.Npy.Write(Path.Combine(_dir, "relu.npy"), new Matrix(4, 3, [0f, 0.25f, 1f, -0.1f, 2f, 0.3f, 0.2f, 0f, 5f, 0.5f, -0.26f, 3f]));
        var (code, output, err) = Run("dead", "--acts-dir", _dir, "--json", "--epsilon", "0.25");
        Assert.True(code == 0, err);
        var layer = JsonDocument.Parse(output).RootElement.GetProperty("layers")[0];
        Assert.Equal(0.25, layer.GetProperty("epsilon").GetDouble());
        Assert.Equal(5 / 12.0, layer.GetProperty("epsilonSparsity").GetDouble(), 12);
        Assert.Equal(2 / 12.0, layer.GetProperty("sparsity").GetDouble(), 12);
        var (textCode, text, textErr) = Run("dead", "--acts-dir", _dir, "--epsilon", "0.25");
        Assert.True(textCode == 0, textErr);
        Assert.Contains("Values within 0.25 of 0: relu 0.4167", text);
        // Without --epsilon, exact zeros (the sparsity) and no line.
        var (_, plain, _) = Run("dead", "--acts-dir", _dir, "--json");
        Assert.Equal(2 / 12.0, JsonDocument.Parse(plain).RootElement.GetProperty("layers")[0].GetProperty("epsilonSparsity").GetDouble(), 12);
        Assert.DoesNotContain("Values within", Run("dead", "--acts-dir", _dir).Out);
    }

    /// <summary>A small CNN on 8x8 digits: relu1 [4, 8, 8], relu2 [4, 4, 4], relu3 [8].</summary>
    internal const string Cnn = "cnn:1x8x8:10:4-4-8:relu";

    /// <summary>
    /// Saves <see cref="Cnn"/>'s weights with a dead channel in each conv layer (conv1 channel 0 and conv2 channel 2
    /// get a bias of -1000) to DIR/cnn.safetensors, for the CLI.
    /// </summary>
    internal static string SaveDeadCnn(string dir)
    {
        using var model = ModelSpec.Parse(Cnn).Build(3);
        using (TorchSharp.torch.no_grad())
            foreach (var (bias, unit) in new[] { ("conv1.bias", 0), ("conv2.bias", 2) })
                model.named_parameters().First(p => p.name == bias).parameter[unit] = TorchSharp.torch.tensor(-1000f);
        string path = Path.Combine(dir, "cnn.safetensors");
        Weights.Save(model, path);
        return path;
    }

    static List<JsonElement> DeadLayers(string[] args)
    {
        var (code, output, err) = Run(args);
        Assert.True(code == 0, err);
        return JsonDocument.Parse(output).RootElement.GetProperty("layers").EnumerateArray().ToList();
    }

    static int[] Ints(JsonElement e, string key) => e.GetProperty(key).EnumerateArray().Select(v => v.GetInt32()).ToArray();
    static float[] Floats(JsonElement e, string key) => e.GetProperty(key).EnumerateArray().Select(v => v.GetSingle()).ToArray();

    /// <summary>
    /// The same CNN on the same digits through the model and through a folder written by probe capture --reduce flatten:
    /// the folder's layers.json outputShape makes each conv ReLU C units of H x W positions, so units, dead units and
    /// every figure are the model path's (sparsity to 1e-12), not one "unit" per (channel, position).
    /// </summary>
    [Fact]
    public void ActsDirOfAFlattenCaptureGivesTheModelPathsDeadUnits()
    {
        string[] model = ["--model", Cnn, "--weights", SaveDeadCnn(_dir)];
        string[] data = ["--data", "digits", "--max-samples", "300", "--seed", "2"];
        string cap = Path.Combine(_dir, "cap");
        var (code, _, err) = Run(["capture", .. model, .. data, "--reduce", "flatten", "--layers", "all", "--out", cap]);
        Assert.True(code == 0, err);
        var viaModel = DeadLayers(["dead", .. model, .. data, "--json"]);
        var viaFolder = DeadLayers(["dead", "--acts-dir", cap, "--json"]);

        Assert.Equal(["relu1", "relu2", "relu3"], viaModel.Select(l => l.GetProperty("layer").GetString()));
        Assert.Equal(viaModel.Select(l => l.GetProperty("layer").GetString()), viaFolder.Select(l => l.GetProperty("layer").GetString()));
        Assert.Equal([4, 4, 8], viaFolder.Select(l => l.GetProperty("units").GetInt32()));
        Assert.Equal([64, 16, 1], viaFolder.Select(l => l.GetProperty("positionsPerUnit").GetInt32()));
        Assert.Contains(0, Ints(viaFolder[0], "deadUnits"));
        Assert.Contains(2, Ints(viaFolder[1], "deadUnits"));
        for (int i = 0; i < viaModel.Count; i++)
        {
            JsonElement m = viaModel[i], f = viaFolder[i];
            foreach (var key in new[] { "outputShape", "deadUnits", "dyingUnits", "saturatedUnits" })
                Assert.Equal(Ints(m, key), Ints(f, key));
            Assert.Equal(m.GetProperty("units").GetInt32(), f.GetProperty("units").GetInt32());
            Assert.Equal(m.GetProperty("positionsPerUnit").GetInt32(), f.GetProperty("positionsPerUnit").GetInt32());
            Assert.Equal(Floats(m, "firingRates"), Floats(f, "firingRates"));
            foreach (var key in new[] { "deadFraction", "dyingFraction", "sparsity", "epsilonSparsity", "mean", "std", "min", "max" })
                Assert.Equal(m.GetProperty(key).GetDouble(), f.GetProperty(key).GetDouble(), 1e-12);
            Assert.Equal(JsonValueKind.Null, f.GetProperty("storedReduction").ValueKind);
        }
    }

    /// <summary>
    /// A folder captured with --reduce mean or max holds one value per channel and sample: the dead-unit study keeps the
    /// per-unit results (a ReLU channel's mean or max is 0 exactly when it never fired, so they are the model path's)
    /// but gives no sparsity, mean, std, min or max for those layers, and says so in the text, the JSON and the report.
    /// The dense relu3 (nothing to reduce) keeps its figures.
    /// </summary>
    [Theory]
    [InlineData("mean", "one mean per channel and sample", "describe the means")]
    [InlineData("max", "one maximum per channel and sample", "describe the maxima")]
    public void ActsDirOfAReducedCaptureKeepsUnitResultsAndSaysWhyLayerFiguresAreMissing(string reduce, string holds, string describes)
    {
        string[] model = ["--model", Cnn, "--weights", SaveDeadCnn(_dir)];
        string[] data = ["--data", "digits", "--max-samples", "200", "--seed", "2"];
        string cap = Path.Combine(_dir, "cap-" + reduce);
        var (code, _, err) = Run(["capture", .. model, .. data, "--reduce", reduce, "--out", cap]);
        Assert.True(code == 0, err);
        var viaModel = DeadLayers(["dead", .. model, .. data, "--json"]);
        var viaFolder = DeadLayers(["dead", "--acts-dir", cap, "--json"]);
        for (int i = 0; i < viaModel.Count; i++)
        {
            Assert.Equal(Ints(viaModel[i], "deadUnits"), Ints(viaFolder[i], "deadUnits"));
            Assert.Equal(Floats(viaModel[i], "firingRates"), Floats(viaFolder[i], "firingRates"));
        }
        foreach (var (l, shape) in new[] { (viaFolder[0], new[] { 4, 8, 8 }), (viaFolder[1], new[] { 4, 4, 4 }) })
        {
            foreach (var key in new[] { "sparsity", "epsilonSparsity", "mean", "std", "min", "max" })
                Assert.Equal(JsonValueKind.Null, l.GetProperty(key).ValueKind);
            Assert.Equal(reduce, l.GetProperty("storedReduction").GetString());
            Assert.Equal(shape, Ints(l, "reducedFrom"));
            Assert.Contains(holds, l.GetProperty("reductionNote").GetString());
            Assert.Contains("capture with --reduce flatten", l.GetProperty("reductionNote").GetString());
        }
        Assert.Equal(JsonValueKind.Null, viaFolder[2].GetProperty("reductionNote").ValueKind);
        Assert.Equal(viaModel[2].GetProperty("sparsity").GetDouble(), viaFolder[2].GetProperty("sparsity").GetDouble(), 12);

        string report = Path.Combine(_dir, "report-" + reduce);
        var (textCode, text, textErr) = Run("dead", "--acts-dir", cap, "--out", report);
        Assert.True(textCode == 0, textErr);
        var rows = text.Split('\n');
        Assert.Matches(@"^relu1\s+ReLU\s+4\s.*\sn/a\s", rows.Single(r => r.StartsWith("relu1 ", StringComparison.Ordinal)));
        Assert.DoesNotContain("n/a", rows.Single(r => r.StartsWith("relu3 ", StringComparison.Ordinal)));
        foreach (var layer in new[] { "relu1", "relu2" })
        {
            string note = rows.Single(r => r.StartsWith(layer + ": the folder holds", StringComparison.Ordinal));
            Assert.Contains(holds, note);
            Assert.Contains($"sparsity, mean, std, min and max are not computed (they would {describes}, not the activations)", note);
        }
        string index = File.ReadAllText(Path.Combine(report, "index.html"));
        Assert.Contains("relu1: the folder holds " + holds, index);
        Assert.Contains("capture with --reduce flatten", index);
    }

    [Theory]
    [InlineData("dead", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("capture", "--model", "mlp:64-10", "--data", "digits", "--out", "never")]
    [InlineData("separability", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("linear-probe", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("cka", "--model", "mlp:64-10", "--data", "digits")]
    [InlineData("compare", "--model-a", "mlp:64-10", "--weights-a", "a.safetensors", "--data", "digits")]
    public void EveryAnalysisOfAModelWithoutWeightsExitsTwoAndOffersRandomWeights(params string[] args)
    {
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("random weights", err);
        Assert.Contains("--random-weights", err);
    }
}

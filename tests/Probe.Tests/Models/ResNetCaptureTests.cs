using System.Text.Json;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Xunit;

namespace Probe.Tests.Models;

/// <summary>
/// A narrow ResNet-18 (BatchNorm, residual adds, one in-place ReLU module called twice per block, dead channels forced
/// through BatchNorm biases) loaded from PyTorch's own files and captured by Probe: every site's values, dead channel
/// sets and max pre-activations equal what PyTorch's forward hooks recorded (tests/fixtures/resnet, make_resnet.py).
/// </summary>
public class ResNetCaptureTests
{
    static string F(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "resnet", name);

    static readonly JsonElement Acts = JsonDocument.Parse(File.ReadAllText(F("acts.json"))).RootElement;

    static string Model => Acts.GetProperty("model").GetString()!;

    public static TheoryData<string> WeightFiles => new() { "resnet18_w4.safetensors", "resnet18_w4.pt", "sharded" };

    [Theory]
    [MemberData(nameof(WeightFiles))]
    public void EverySiteEqualsPyTorchsHooks(string weights)
    {
        using var source = ModelLoader.Open(Model, F(weights));
        var data = DataSource.Parse("npy:" + F("input.npy")).Open();
        using var _ = data as IDisposable;
        var acts = new ActivationCapture(BatchSize: 3).ToMemory(source, data);
        var sites = Acts.GetProperty("sites").EnumerateArray().ToList();
        Assert.Equal(sites.Select(s => s.GetProperty("site").GetString()), acts.LayerNames);
        Assert.Equal(17, acts.LayerNames.Count(n => n.Contains("relu")));
        foreach (var s in sites)
        {
            string site = s.GetProperty("site").GetString()!;
            ReferenceAssert.Close(Npy.ReadMatrix(F(s.GetProperty("file").GetString()!)), acts[site], site);
        }
    }

    [Theory]
    [MemberData(nameof(WeightFiles))]
    public void DeadChannelsAndPreActivationsEqualPyTorchsAndResidualReluCausesAreUnknown(string weights)
    {
        using var source = ModelLoader.Open(Model, F(weights));
        var data = DataSource.Parse("npy:" + F("input.npy")).Open();
        using var _ = data as IDisposable;
        var result = new DeadUnitStudy(BatchSize: 3).Run(source, data);
        var relus = Acts.GetProperty("sites").EnumerateArray().Where(s => s.TryGetProperty("dead", out var _)).ToList();
        Assert.Equal(relus.Select(s => s.GetProperty("site").GetString()), result.Layers.Select(l => l.Layer));
        foreach (var s in relus)
        {
            var layer = result.Layer(s.GetProperty("site").GetString()!);
            Assert.Equal(s.GetProperty("dead").EnumerateArray().Select(e => e.GetInt32()), layer.Stats.DeadUnits);
            var pre = s.GetProperty("max_pre_activation").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            if (layer.MaxPreActivation is { } got)
                for (int u = 0; u < pre.Length; u++) Assert.Equal(pre[u], got[u], 1e-4 * Math.Max(1, Math.Abs(pre[u])));
            if (layer.Layer.EndsWith("#1", StringComparison.Ordinal))
            {
                // After the residual add: never blamed on bn2.
                Assert.Null(layer.PrecedingLayer);
                Assert.Empty(layer.Causes);
                Assert.Contains("residual add", layer.CauseNote);
                // No cause, but every unit's largest pre-activation (PyTorch's, checked above): how far from firing a dead
                // unit stayed. They were not read at all.
                Assert.NotNull(layer.MaxPreActivation);
            }
        }
        // A channel killed through its BatchNorm bias (forced by the fixture script): explained with the folded bias.
        var stem = result.Layer("relu");
        Assert.Equal("conv1", stem.PrecedingLayer);
        Assert.Equal("bn1", stem.FoldedNorm);
        var cause = Assert.Single(stem.Causes);
        Assert.Equal(0, cause.Unit);
        Assert.True(cause.Bias < 0);
        Assert.Equal(relus[0].GetProperty("max_pre_activation")[0].GetDouble(), cause.MaxPreActivation, 1e-3);
    }

    /// <summary>
    /// probe dead prints, under a residual ReLU whose causes cannot be computed, its dead units' largest pre-activations
    /// (PyTorch's forward pre-hooks in acts.json), and gives the long reason once, referring to it for the next layers.
    /// </summary>
    [Fact]
    public void ProbeDeadPrintsTheLargestPreActivationsOfUnexplainedDeadUnits()
    {
        var (code, output, err) = Probe.Tests.Cli.Cli.Run("dead", "--model", Model, "--weights", F("resnet18_w4.safetensors"), "--data", "npy:" + F("input.npy"));
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        var site = Acts.GetProperty("sites").EnumerateArray().First(s => s.GetProperty("site").GetString() == "layer4.1.relu#1");
        int unit = site.GetProperty("dead")[0].GetInt32();
        double expected = site.GetProperty("max_pre_activation")[unit].GetDouble();
        int at = Array.FindIndex(lines, l => l.StartsWith("layer4.1.relu#1: dead units", StringComparison.Ordinal));
        Assert.True(at >= 0, output);
        Assert.StartsWith("  causes not computed, as for layer1.0.relu#1", lines[at + 1]);
        var said = System.Text.RegularExpressions.Regex.Match(lines[at + 2], $"^  largest pre-activations: unit {unit} (-?[0-9.Ee+-]+)");
        Assert.True(said.Success, lines[at + 2]);
        Assert.Equal(expected, double.Parse(said.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1e-3 * Math.Max(1, Math.Abs(expected)));
        Assert.Single(lines, l => l.StartsWith("  causes not computed: its input is not the output of any module", StringComparison.Ordinal));
    }

    [Fact]
    public void TheOnnxExportGivesTheSameSitesValuesAndDeadChannels()
    {
        // The same weights exported by torch.onnx.export (BatchNorm kept as nodes): every hook site is an ONNX site of the
        // same name, with PyTorch's values; the ONNX graph also shows the residual adds the hooks cannot see.
        using var source = ModelLoader.Open(F("resnet18_w4.onnx"), null);
        var data = DataSource.Parse("npy:" + F("input.npy")).Open();
        using var _ = data as IDisposable;
        var sites = Acts.GetProperty("sites").EnumerateArray().ToList();
        var onnxNames = source.Sites.Select(s => s.Name).ToHashSet();
        var shared = sites.Select(s => s.GetProperty("site").GetString()!).Where(onnxNames.Contains).ToList();
        Assert.All(sites.Where(s => s.GetProperty("type").GetString() is "ReLU" or "Conv2d" or "BatchNorm2d" or "Linear"),
            s => Assert.Contains(s.GetProperty("site").GetString()!, onnxNames));
        Assert.Equal(8, source.Sites.Count(s => s.OpType == "Add"));
        var acts = new ActivationCapture(new LayerSelector(string.Join(",", shared)), BatchSize: 3).ToMemory(source, data);
        foreach (var s in sites.Where(s => onnxNames.Contains(s.GetProperty("site").GetString()!)))
        {
            string site = s.GetProperty("site").GetString()!;
            ReferenceAssert.Close(Npy.ReadMatrix(F(s.GetProperty("file").GetString()!)), acts[site], site + " (ONNX)");
        }
        var dead = new DeadUnitStudy(new LayerSelector("type:Relu"), BatchSize: 3).Run(source, data);
        foreach (var s in sites.Where(s => s.TryGetProperty("dead", out var _)))
            Assert.Equal(s.GetProperty("dead").EnumerateArray().Select(e => e.GetInt32()), dead.Layer(s.GetProperty("site").GetString()!).Stats.DeadUnits);
        Assert.Contains("Add", dead.Layer("layer1.0.relu#1").CauseNote);
    }
}

using System.Globalization;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;

namespace Probe.Models;

/// <summary>
/// Opens a user's model as an activation source, whatever form it comes in: a spec Probe builds
/// (<c>mlp:…</c>, <c>cnn:…</c>, <c>resnet:…</c>, <c>torchvision:NAME</c>) with weights from a .safetensors, a PyTorch
/// .pt/.pth state dict or TorchSharp's format, or an ONNX file (<c>model.onnx</c>, which carries its own weights).
/// One entry point, so every command and notebook accepts the same models.
/// </summary>
public static class ModelLoader
{
    /// <summary>Whether <paramref name="model"/> names an ONNX file rather than a spec.</summary>
    public static bool IsOnnx(string model) => model.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the model form carries its own weights (an ONNX file), so no weights file is needed.</summary>
    public static bool CarriesWeights(string model) => IsOnnx(model);

    /// <summary>
    /// Opens <paramref name="model"/>. Specs get <paramref name="weights"/> when given, else the initialisation seeded with
    /// <paramref name="seed"/> (callers decide whether an untrained model is what the user asked for).
    /// </summary>
    /// <param name="model">A spec or an .onnx path.</param>
    /// <param name="weights">Weights for a spec (null: the seeded initialisation).</param>
    /// <param name="seed">Seeds the initialisation of a spec.</param>
    /// <param name="inputs">ONNX only: arrays for the graph inputs the data set does not feed (e.g. attention masks), by name.</param>
    /// <param name="dataInput">ONNX only: the graph input the data set feeds (default: the first one not in <paramref name="inputs"/>).</param>
    /// <param name="device">Where the model runs (default the CPU; see <see cref="ComputeDevice"/>).</param>
    public static IActivationSource Open(string model, string? weights, int seed = 0, IReadOnlyDictionary<string, NpyArray>? inputs = null, string? dataInput = null,
        ComputeDevice? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (IsOnnx(model))
        {
            if (weights != null) throw new ProbeException($"'{model}' is an ONNX model, which carries its own weights; drop --weights.");
            if (!File.Exists(model)) throw new ProbeException($"ONNX model '{model}' does not exist.");
            return new OnnxActivationSource(model, inputs, dataInput, device: device);
        }
        if (inputs is { Count: > 0 } || dataInput != null)
            throw new ProbeException($"Named model inputs (--input NAME=FILE.npy) are for ONNX models with several inputs; {model} takes one input.");
        var spec = ModelSpec.Parse(model);
        var resolved = (device ?? ComputeDevice.Cpu).Resolve(); // before building: a missing GPU fails fast
        // A resnet or torchvision model takes its number of classes from the weights' last layer unless the spec names
        // it (:cN): resnet:18 is torchvision's resnet18, and a fine-tuned one has its own head.
        if (weights != null && spec.Kind is ModelKind.TorchVision or ModelKind.ResNet && !ModelSpec.NamesClasses(model))
            spec = spec.WithClassesFrom(weights);
        var module = spec.Build(seed);
        try
        {
            if (weights != null) Weights.Load(module, weights);
        }
        catch (Exception e)
        {
            module.Dispose();
            if (e is ProbeException && weights != null && ResNetWidthHint(spec, weights) is { } hint)
                throw new ProbeException($"{hint} {e.Message}", e);
            throw;
        }
        string what = weights == null ? $"{spec} (random weights, seed {seed})" : $"{spec} ({Path.GetFileName(weights)})";
        return new ModuleSource(module, spec.InputShape, what, ownsModel: true) { Device = resolved };
    }

    /// <summary>
    /// When a ResNet's weights do not fit because the file's network is of another base width (conv1's output
    /// channels), the spec that fits, as the opening of the message; otherwise null. The list of mismatches that
    /// follows names every tensor (60 for a resnet18), which hides that one number.
    /// </summary>
    static string? ResNetWidthHint(ModelSpec spec, string weights)
    {
        if (spec.Kind is not (ModelKind.ResNet or ModelKind.TorchVision) || spec.Depth == 0) return null;
        IReadOnlyDictionary<string, long[]> shapes;
        try { shapes = Weights.ReadShapes(weights); }
        catch (Exception) { return null; }   // a hint must never hide the error it adds to
        int width = spec.Kind == ModelKind.ResNet ? spec.Widths[0] : 64;
        if (Weights.ShapeIn(shapes, "conv1.weight") is not { } conv1 || conv1.Length != 4 || conv1[0] == width || conv1[0] <= 0 || conv1[0] > int.MaxValue)
            return null;
        int classes = Weights.ShapeIn(shapes, "fc.weight") is { } fc && fc.Length == 2 && fc[0] > 0 && fc[0] <= int.MaxValue ? (int)fc[0] : spec.Outputs;
        var fits = ModelSpec.ResNet(spec.Depth, (int)conv1[0], classes, spec.InputShape);
        return string.Create(CultureInfo.InvariantCulture,
            $"The weights' conv1 has {conv1[0]} output channels where {spec} has {width}: a ResNet of that base width is --model {fits}.");
    }
}

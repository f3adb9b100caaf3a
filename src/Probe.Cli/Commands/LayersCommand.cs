using System.CommandLine;
using System.Globalization;
using Probe.Capture;
using Probe.Models;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe layers</c>: every activation site of a model with its type and output shape for one input sample. For a
/// model Probe builds, also each module's parameter count, and one site per call of a module called more than once
/// (<c>layer1.0.relu#0</c>, <c>#1</c>). Weights are optional (shapes do not depend on them).
/// </summary>
internal static class LayersCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = CliOptions.Model(required: true, onnx: true);
        var weights = CliOptions.Weights();
        var json = CliOptions.Json();
        var device = CliOptions.Device();
        var input = new Option<string[]>("--input")
        {
            Description = "Inputs of an ONNX model, as capture takes them: FILE.npy (the data input, one row per sample) or NAME=FILE.npy per graph input (repeat the option). " +
                          "Its first sample is run to leave out values whose first axis is not the batch (sequence-first values inside nn.MultiheadAttention); " +
                          "without it a zero sample is run when the inputs have static shapes, and otherwise the list says it was not checked.",
            AllowMultipleArgumentsPerToken = false,
        };
        input.Check(t => CliOptions.ExistingFile(CliOptions.SplitInput(t).Path));
        var cmd = new Command("layers", "List every activation site of a model: name, type, output shape for one sample (and parameters for built models).") { model, weights, json, device, input };
        cmd.Validators.Add(r =>
        {
            if (r.GetValue(model) is string m && ModelLoader.IsOnnx(m) && r.GetResult(weights) != null)
                r.AddError($"'{m}' is an ONNX model, which carries its own weights; drop --weights.");
        });
        cmd.SetAction(p =>
        {
            var (feed, side) = CliOptions.FeedAndSide(p.GetValue(input) ?? []);
            using var source = ModelLoader.Open(p.GetValue(model)!, p.GetValue(weights), seed: 0, side.Count > 0 ? side : null, feed?.Name, CliOptions.DeviceOf(p, device));
            // Given the data's samples, the source settles its sites on the first one, as a capture does.
            if (feed is { Path: var path })
            {
                var data = CliOptions.OpenData("npy:" + path);
                using var _ = data as IDisposable;
                CliOptions.CheckLayout(source, data, p.GetValue(model));
                source.Bind(data);
            }
            var sites = source.Sites;
            string? caveat = source.SitesCaveat;
            string Shape(int[]? s) => s == null ? "-" : "[" + string.Join(", ", s) + "]";
            if (source is ModuleSource ms)
            {
                // A spec's children in PyTorch's order (TorchSharp registers some models' children otherwise).
                var rows = ModelInspector.Describe(ms.Model, source.InputShape!, SpecChildren(p.GetValue(model)));
                var repeated = sites.Where(s => s.Name != s.BaseName).ToList();
                if (p.GetValue(json))
                {
                    ctx.Out.WriteLine(JsonOutput.Serialize(new
                    {
                        model = p.GetValue(model), inputShape = source.InputShape, modules = rows,
                        sites = sites.Where(s => s.OutputShape != null).Select(s => new { s.Name, type = s.OpType, outputShape = s.OutputShape, s.Leaf }),
                    }));
                    return ExitCodes.Ok;
                }
                ctx.Out.WriteLine($"{source.Description}  (input: [{string.Join(", ", source.InputShape!)}] per sample)");
                ctx.Out.Write(TextTable.Render(["name", "type", "parameters", "output shape"],
                    rows.Select(r => (IReadOnlyList<string>)
                    [
                        r.Name.Length == 0 ? "(model)" : new string(' ', 2 * Math.Max(0, r.Depth - 1)) + r.Name,
                        r.TypeName, r.Parameters.ToString(CultureInfo.InvariantCulture), Shape(r.OutputShape),
                    ])));
                if (repeated.Count > 0)
                    ctx.Out.WriteLine("Modules called more than once give one site per call: " + string.Join(", ", repeated.Select(s => $"{s.Name} {Shape(s.OutputShape)}")) + ".");
                ctx.Out.WriteLine("Functional operations (torch.nn.functional calls, a residual 'out + identity') are not sites: wrap one in a module to see it, or export the model to ONNX, where every op is a site.");
                return ExitCodes.Ok;
            }
            if (p.GetValue(json))
            {
                ctx.Out.WriteLine(JsonOutput.Serialize(new { model = p.GetValue(model), inputShape = source.InputShape, sites = sites.Select(s => new { s.Name, type = s.OpType, outputShape = s.OutputShape }), caveat }));
                return ExitCodes.Ok;
            }
            ctx.Out.WriteLine($"{source.Description}" + (source.InputShape is { } shape ? $"  (input: [{string.Join(", ", shape)}] per sample)" : ""));
            ctx.Out.Write(TextTable.Render(["site", "op type", "output shape"],
                sites.Select(s => (IReadOnlyList<string>)[s.Name, s.OpType, Shape(s.OutputShape)])));
            if (caveat != null) ctx.Out.WriteLine("This list was " + caveat);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    // The spec's top-level children in PyTorch's order, or null when the model is not given as a spec.
    private static IReadOnlyList<string>? SpecChildren(string? text)
    {
        try { return text == null ? null : ModelSpec.Parse(text).LayerNames; }
        catch (ProbeException) { return null; }
    }
}

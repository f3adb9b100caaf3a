using System.CommandLine;
using Probe.Capture;
using Probe.Data;
using Probe.Reporting;

namespace Probe.Cli.Commands;

/// <summary><c>probe capture</c>: writes each selected layer's activations to DIR/&lt;layer&gt;.npy.</summary>
internal static class CaptureCommand
{
    public static Command Create(CliContext ctx)
    {
        var models = new ModelOptions();
        var data = CliOptions.Data();
        var input = new Option<string?>("--input") { Description = "An .npy matrix of inputs (instead of --data)." };
        var layers = CliOptions.Layers();
        var reduce = CliOptions.Reduce();
        var maxSamples = CliOptions.MaxSamples();
        var seed = CliOptions.Seed();
        var batch = CliOptions.BatchSize();
        var outDir = CliOptions.Out(required: true, "Folder for <layer>.npy, labels.npy and layers.json.");
        var cmd = new Command("capture", "Record per-layer activations of a model on a data set into .npy files.")
            { data, input, layers, reduce, maxSamples, seed, batch, outDir };
        models.AddTo(cmd, actsDir: false);
        cmd.Validators.Add(r =>
        {
            if (!models.HasModel(r)) r.AddError("Option '--model' is required.");
            models.Validate(r);
            bool hasData = r.GetResult(data) != null, hasInput = r.GetResult(input) != null;
            if (hasData == hasInput) r.AddError("Give exactly one of --data and --input.");
        });
        cmd.SetAction(p =>
        {
            IDataset dataset = CliOptions.OpenData(p.GetValue(input) is string x ? "npy:" + x : p.GetValue(data)!);
            using var _d = dataset as IDisposable;
            using var source = models.Open(p, p.GetValue(seed));
            CliOptions.CheckLayout(source, dataset);
            if (p.GetValue(maxSamples) is int max)
                dataset = dataset.Subset(SampleChooser.Choose(dataset.Count, max, p.GetValue(seed)));
            string dir = p.GetValue(outDir)!;
            var capture = new ActivationCapture(new LayerSelector(p.GetValue(layers)!), p.GetValue(reduce), BatchSize: p.GetValue(batch));
            CaptureSummary summary;
            using (var sink = new NpySink(dir))
                summary = capture.Run(source, dataset, sink);
            JsonOutput.Write(Path.Combine(dir, "layers.json"), new
            {
                samples = summary.Samples,
                reduce = capture.Reduce.ToString().ToLowerInvariant(),
                layers = summary.Layers.Select(l => new { l.Name, type = l.ModuleType, outputShape = l.OutputShape, l.Features, l.Order, file = NpySink.FileName(l.Name), nonFinite = summary.NonFiniteOutputs[l.Name] }),
            }, "layers.json");
            foreach (var l in summary.Layers)
            {
                long bad = summary.NonFiniteOutputs[l.Name];
                ctx.Out.WriteLine($"{l.Name,-16} {l.ModuleType,-12} {summary.Samples} x {l.Features}" + (bad > 0 ? $"  WARNING: {bad} non-finite values" : ""));
            }
            ctx.Out.WriteLine($"Wrote {summary.Layers.Count} layer file(s){(dataset.Labels != null ? ", labels.npy" : "")} and layers.json to {dir}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

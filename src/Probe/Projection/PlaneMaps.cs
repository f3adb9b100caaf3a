using System.Runtime.InteropServices;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Projection;

/// <summary>An axis-aligned box of the plane [XMin, XMax] x [YMin, YMax].</summary>
public sealed record PlaneBox(double XMin, double XMax, double YMin, double YMax)
{
    /// <summary>The bounding box of the rows of an n x 2 matrix, widened by <paramref name="margin"/> of its size on each side.</summary>
    public static PlaneBox Around(Matrix points, double margin = 0.15)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Cols != 2) throw new ProbeException($"A plane box needs n x 2 points, got {points.Rows} x {points.Cols}.");
        points.EnsureNotEmpty("The points").EnsureFinite("The points");
        double x0 = double.MaxValue, x1 = double.MinValue, y0 = double.MaxValue, y1 = double.MinValue;
        for (int i = 0; i < points.Rows; i++)
        {
            x0 = Math.Min(x0, points[i, 0]); x1 = Math.Max(x1, points[i, 0]);
            y0 = Math.Min(y0, points[i, 1]); y1 = Math.Max(y1, points[i, 1]);
        }
        double w = Math.Max(x1 - x0, 1e-6), h = Math.Max(y1 - y0, 1e-6);
        return new PlaneBox(x0 - margin * w, x1 + margin * w, y0 - margin * h, y1 + margin * h);
    }

    /// <summary>Throws when the box is empty or not finite.</summary>
    public PlaneBox Validate()
    {
        if (!double.IsFinite(XMin) || !double.IsFinite(XMax) || !double.IsFinite(YMin) || !double.IsFinite(YMax) || !(XMax > XMin) || !(YMax > YMin))
            throw new ProbeException($"The plane box [{XMin}, {XMax}] x [{YMin}, {YMax}] must be finite and non-empty.");
        return this;
    }
}

/// <summary>A polyline in the plane (x[i], y[i]).</summary>
public sealed record PlaneLine(double[] X, double[] Y);

/// <summary>
/// A regular grid of the input plane and its image under a network's 2-unit layer: InputLines[k] is mapped to
/// Lines[k] point by point (the "neural fold": how the layer bends and folds the plane).
/// </summary>
public sealed record PlaneWarpResult(string Layer, PlaneBox Box, PlaneLine[] InputLines, PlaneLine[] Lines);

/// <summary>Pictures of networks with 2-D inputs: grid warps through a 2-unit layer and decision regions.</summary>
public static class PlaneMaps
{
    /// <summary>
    /// Pushes <paramref name="lines"/> vertical and as many horizontal grid lines over <paramref name="box"/>, each
    /// sampled at <paramref name="steps"/> points, through <paramref name="model"/> and returns their images at
    /// <paramref name="layer"/>, which must have exactly 2 outputs.
    /// </summary>
    public static PlaneWarpResult Warp(nn.Module<Tensor, Tensor> model, string layer, PlaneBox box, int lines = 17, int steps = 80)
    {
        ArgumentNullException.ThrowIfNull(model);
        box.Validate();
        if (lines < 2 || steps < 2) throw new ProbeException($"A grid warp needs at least 2 lines of 2 points, got {lines} lines of {steps}.");
        var input = new List<PlaneLine>();
        for (int k = 0; k < lines; k++)
        {
            double t = k / (double)(lines - 1);
            double xv = box.XMin + t * (box.XMax - box.XMin), yv = box.YMin + t * (box.YMax - box.YMin);
            var vx = new double[steps]; var vy = new double[steps];
            var hx = new double[steps]; var hy = new double[steps];
            for (int s = 0; s < steps; s++)
            {
                double u = s / (double)(steps - 1);
                vx[s] = xv; vy[s] = box.YMin + u * (box.YMax - box.YMin);
                hx[s] = box.XMin + u * (box.XMax - box.XMin); hy[s] = yv;
            }
            input.Add(new PlaneLine(vx, vy));
            input.Add(new PlaneLine(hx, hy));
        }
        var pts = new Matrix(input.Count * steps, 2);
        for (int l = 0; l < input.Count; l++)
            for (int s = 0; s < steps; s++) { pts[l * steps + s, 0] = (float)input[l].X[s]; pts[l * steps + s, 1] = (float)input[l].Y[s]; }
        var mapped = LayerOutput(model, layer, pts, requireWidth: 2);
        var output = new PlaneLine[input.Count];
        for (int l = 0; l < input.Count; l++)
        {
            var x = new double[steps]; var y = new double[steps];
            for (int s = 0; s < steps; s++) { x[s] = mapped[l * steps + s, 0]; y[s] = mapped[l * steps + s, 1]; }
            output[l] = new PlaneLine(x, y);
        }
        return new PlaneWarpResult(layer, box, input.ToArray(), output);
    }

    /// <summary>The output of <paramref name="layer"/> for each row of <paramref name="points"/> (the network's inputs).</summary>
    public static Matrix LayerOutput(nn.Module<Tensor, Tensor> model, string layer, Matrix points, int requireWidth = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(points);
        var data = new Dataset("points", points, null, [points.Cols]);
        var acts = new ActivationCapture(new LayerSelector(layer)).ToMemory(model, data);
        var m = acts[acts.LayerNames[0]];
        if (requireWidth > 0 && m.Cols != requireWidth)
            throw new ProbeException($"Layer '{layer}' has {m.Cols} outputs; this picture needs a layer with exactly {requireWidth}.");
        return m;
    }

    /// <summary>
    /// The network's predicted class (argmax of its output) at the centre of each cell of a rows x cols grid over
    /// <paramref name="box"/> of its 2-D input; map[i][j] with row 0 at the bottom.
    /// </summary>
    public static int[][] DecisionRegions(nn.Module<Tensor, Tensor> model, PlaneBox box, int rows = 200, int cols = 200)
    {
        ArgumentNullException.ThrowIfNull(model);
        string last = model.named_children().Select(c => c.name).LastOrDefault()
            ?? throw new ProbeException("The model has no children to read the output from.");
        var grid = CellCentres(box, rows, cols);
        return ArgMaxMap(LayerOutput(model, last, grid), rows, cols);
    }

    /// <summary>
    /// The class the rest of the network (the children after <paramref name="layer"/>, in order) predicts for each cell
    /// centre of a grid over <paramref name="box"/> in the 2-D space of <paramref name="layer"/>'s output: the decision
    /// regions as the network sees them from that layer. Only for sequential networks (an MLP).
    /// </summary>
    public static int[][] DecisionRegionsAfter(nn.Module<Tensor, Tensor> model, string layer, PlaneBox box, int rows = 200, int cols = 200)
    {
        ArgumentNullException.ThrowIfNull(model);
        var children = model.named_children().ToList();
        int at = children.FindIndex(c => c.name == layer);
        if (at < 0) throw new ProbeException($"The model has no child '{layer}'; children: {string.Join(", ", children.Select(c => c.name))}.");
        if (at == children.Count - 1) throw new ProbeException($"'{layer}' is the output layer; there is no rest of the network to apply.");
        var grid = CellCentres(box, rows, cols);
        Matrix output;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                var x = tensor(grid.Data, new long[] { grid.Rows, 2 });
                for (int k = at + 1; k < children.Count; k++)
                {
                    if (children[k].module is not nn.Module<Tensor, Tensor> m)
                        throw new ProbeException($"Child '{children[k].name}' is not a tensor-to-tensor module.");
                    x = m.call(x);
                }
                if (x.dim() != 2 || x.shape[0] != grid.Rows)
                    throw new ProbeException($"The layers after '{layer}' produced shape [{string.Join(", ", x.shape)}], expected [{grid.Rows}, classes].");
                x = x.to_type(ScalarType.Float32).contiguous();
                output = new Matrix(grid.Rows, (int)x.shape[1]);
                MemoryMarshal.Cast<byte, float>(x.bytes).CopyTo(output.Data);
            }
            catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException)
            {
                throw new ProbeException($"The layers after '{layer}' cannot take 2-D points: {e.Message}", e);
            }
            finally
            {
                if (wasTraining) model.train();
            }
        }
        return ArgMaxMap(output, rows, cols);
    }

    /// <summary>The cell centres of a rows x cols grid over the box, row-major with row 0 at the bottom.</summary>
    public static Matrix CellCentres(PlaneBox box, int rows, int cols)
    {
        box.Validate();
        if (rows < 1 || cols < 1) throw new ProbeException($"A grid needs at least one row and column, got {rows} x {cols}.");
        var m = new Matrix(rows * cols, 2);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
            {
                m[i * cols + j, 0] = (float)(box.XMin + (j + 0.5) * (box.XMax - box.XMin) / cols);
                m[i * cols + j, 1] = (float)(box.YMin + (i + 0.5) * (box.YMax - box.YMin) / rows);
            }
        return m;
    }

    static int[][] ArgMaxMap(Matrix scores, int rows, int cols)
    {
        scores.EnsureFinite("The network's outputs on the grid");
        var map = new int[rows][];
        for (int i = 0; i < rows; i++)
        {
            map[i] = new int[cols];
            for (int j = 0; j < cols; j++)
            {
                var r = scores.Row(i * cols + j);
                int best = 0;
                if (r.Length == 1) best = r[0] > 0 ? 1 : 0; // a single logit: positive = class 1
                else for (int k = 1; k < r.Length; k++) if (r[k] > r[best]) best = k;
                map[i][j] = best;
            }
        }
        return map;
    }
}

// The three helpers Vega's expression interpreter (an ES module) imports from "vega-util", taken from the
// global Vega build that the pages load; the page's import map points "vega-util" here.
const vega = window.vega;
export const ascending = vega.ascending;
export const isString = vega.isString;
export const DisallowedObjectProperties = vega.DisallowedObjectProperties;

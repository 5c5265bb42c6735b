-- The decision's reasons and targets are already in the stored answer: keep them once.
-- Fewer bytes per action and no JSON parsing on the insert path.
ALTER TABLE actions DROP COLUMN reasons, DROP COLUMN targets;

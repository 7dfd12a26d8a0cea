throw new Error('this task module cannot load');
